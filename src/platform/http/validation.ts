import { Ajv, type Options } from 'ajv';
import * as ajvFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

// ajv-formats is CommonJS with `exports.default`; under ESM that function sits one level down.
const addFormats = ajvFormats.default.default;

/**
 * Two validators. Bodies are JSON and are taken exactly as sent: a payment API must not turn "100" into 100 or
 * quietly drop a misspelled field, so no coercion and no removal (schemas say `additionalProperties: false`).
 * Query strings and path parameters only exist as text, so those alone are coerced to the schema's types.
 */
const common: Options = {
  allErrors: false,
  removeAdditional: false,
  useDefaults: true,
  strict: true,
  strictRequired: false,
  allowUnionTypes: true,
};

function withFormats(ajv: Ajv): Ajv {
  addFormats(ajv);
  // Descriptive keywords TypeBox and OpenAPI carry that do not validate.
  ajv.addKeyword('example');
  return ajv;
}

const bodyAjv = withFormats(new Ajv({ ...common, coerceTypes: false }));
const textAjv = withFormats(new Ajv({ ...common, coerceTypes: true }));

export const validatorCompiler: FastifySchemaCompiler<object> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? bodyAjv : textAjv;
  return ajv.compile(schema);
};
