import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { authenticate } from '../shared/auth';
import { graphHandler } from '../shared/http/handler';
import { ALL_METHODS, dispatchByMethod } from '../shared/http/methods';
import type { RequestContext } from '../shared/http/requestContext';
import { jsonResponse } from '../shared/http/responses';
import { functionNameOf, MY_DEVICES_ROUTES } from '../shared/http/routes';
import { myDevices } from '../shared/reveal/myDevices';
import { deviceCollection } from '../shared/reveal/representation';

/** GET {route}: the signed-in user's devices and their keys' metadata (SELF_SERVICE_REVEAL); never a password. */
export async function getMyDevices(
  request: HttpRequest,
  requestContext: RequestContext,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authenticate(request, requestContext, context);
  return jsonResponse(requestContext, 200, deviceCollection(requestContext, 'myDevices', await myDevices(caller)));
}

export const myDevicesHandler = graphHandler(dispatchByMethod({ GET: getMyDevices }));

for (const route of MY_DEVICES_ROUTES) {
  app.http(functionNameOf('myDevices', route), { methods: ALL_METHODS, authLevel: 'anonymous', route, handler: myDevicesHandler });
}
