// `node -r` preload for the cold-load child processes: provides `@azure/functions-core` as the
// Functions worker does, so that loading the app registers its functions instead of printing the
// library's test-mode warning. Every cold-load variant gets it, so its small cost cancels out.

import { installFunctionsCore } from '../devhost/host/functionsCore';

installFunctionsCore();
