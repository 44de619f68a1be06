import { ensureStorage } from './services';

// Global setup of the projects whose tests need the run's Azurite (and local mode), but no host.
export default ensureStorage;
