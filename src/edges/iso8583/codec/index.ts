/** The ISO 8583 codec: profiles as data, pack and unpack, errors that name the field and mask card data. */
export { pack, unpack, type IsoMessage } from './codec.js';
export { Iso8583Error, type Iso8583ErrorField } from './errors.js';
export {
  cvv2FieldValue,
  defineProfile,
  ISO8583_1987_ASCII,
  ISO8583_1987_BCD,
  loadProfile,
  parseProfile,
  ProfileError,
  ProfileSchema,
  readCvv2,
  type ContentEncoding,
  type ContentType,
  type Cvv2Location,
  type FieldDefinition,
  type Iso8583Profile,
  type LengthKind,
  type PrefixEncoding,
  type ProfileDefinition,
} from './profile.js';
