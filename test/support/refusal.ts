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

/** The GraphError that `work` rejects with, whatever its status (the test asserts that). */
export async function asyncRefusal(work: Promise<unknown>): Promise<GraphError> {
  const error = await work.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(GraphError);
  return error as GraphError;
}
