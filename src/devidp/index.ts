export { startDevProvider, type DevProvider, type DevProviderOptions } from './dev-provider.js';
