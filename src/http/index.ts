export { startServer, SERVER_TIMEOUTS, type RunningServer, type RequestHandler } from './server.js';
export { createApp } from './create-app.js';
export type { App, Readiness } from './app.js';
