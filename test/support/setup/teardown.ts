import { stopServices } from './services';

// The one global teardown of every project (jest runs it once): stops what the setups started.
export default stopServices;
