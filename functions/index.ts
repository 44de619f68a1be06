// The app's one entry: what the Functions host loads (package.json `main` names its bundle,
// dist/app/main.js, built by scripts/build/buildApp.ts). Each function module registers its functions with
// @azure/functions as it loads; a module left out of this list is not served, which
// test/pure/functions/index.test.ts catches.
import { settings } from '../shared/config';
import { keyring } from '../shared/crypto/keyring';
import './auditLogs';
import './auditLogsExport';
import './auditRetention';
import './backup';
import './coverage';
import './coverageReport';
import './deletedItems';
import './deviceStatuses';
import './entraMirror';
import './health';
import './helpdesk';
import './intuneRotations';
import './inventory';
import './keysAwaitingRotation';
import './myDevices';
import './notFound';
import './openapi';
import './purgeExpired';
import './recoveryKeys';
import './revealGrants';
import './revealRequests';
import './sweepDeviceNonces';

// A malformed setting or a missing or malformed ENCRYPTION_KEYS stops the app here, as it loads, with
// a message that names the setting: never a service that stores plain text, nor one that fails only
// at its first request.
settings();
keyring();
