import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config.js';
import { redactLogLine } from './redact.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  readonly level: LogLevel;
  readonly destination?: DestinationStream;
}

/**
 * JSON lines with ISO times (an epoch-millisecond number is 13 digits and could pass for a PAN) and every line
 * passed through the card-data redactor before it is written.
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'lantau' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          '*.authorization',
          'headers.authorization',
        ],
        censor: '[REDACTED]',
      },
      hooks: { streamWrite: redactLogLine },
    },
    options.destination,
  );
}
