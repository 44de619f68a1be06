import { ensureHost } from './services';

// Global setup of the projects whose tests need the run's local host (and its Azurite).
export default ensureHost;
