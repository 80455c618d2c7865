export { createLoggers, silentLoggers, REDACTED_FIELDS, type Loggers, type LoggerOptions } from './logger.js';
