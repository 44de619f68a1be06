import { GraphError } from '../../shared/errors/graphError';

/** The GraphError that `act` throws, after checking it is a 400 badRequest. */
export function refusal(act: () => unknown): GraphError {
  try {
    act();
  } catch (error) {
    expect(error).toBeInstanceOf(GraphError);
    const { status, code } = error as GraphError;
    expect({ status, code }).toEqual({ status: 400, code: 'badRequest' });
    return error as GraphError;
  }
  throw new Error('expected a 400 refusal, but nothing was thrown');
}
