import { app } from '@azure/functions';
import { notFound } from '../shared/errors/graphError';
import { graphHandler } from '../shared/http/handler';
import { ALL_METHODS } from '../shared/http/methods';

// Routing prefers every literal route over a catch-all, so this answers only paths no other function
// serves, in Graph's error shape rather than the host's empty 404.
export const notFoundHandler = graphHandler((request) => {
  throw notFound(`No resource matches the path ${new URL(request.url).pathname}.`);
});

app.http('notFound', {
  methods: ALL_METHODS,
  authLevel: 'anonymous',
  route: '{*path}',
  handler: notFoundHandler,
});
