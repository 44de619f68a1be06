import { ensureLocalMode } from './services';

// Global setup of the projects whose tests need only local mode's settings: no storage, no host.
export default ensureLocalMode;
