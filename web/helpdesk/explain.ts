import { ApiError } from './api';

/** What went wrong, in words a helpdesk member can act on, and the request-id for the admins. */
export interface Explained {
  message: string;
  requestId?: string;
}

function wait(seconds: number | undefined): string {
  return seconds === undefined ? 'in a minute' : `in ${seconds} second${seconds === 1 ? '' : 's'}`;
}

/** `doing` completes "You may not …" (e.g. "reveal recovery keys"). */
export function explain(error: unknown, doing: string): Explained {
  if (!(error instanceof ApiError))
    return { message: `Something went wrong in this page: ${error instanceof Error ? error.message : String(error)}` };
  const requestId = error.requestId;
  switch (error.status) {
    case 0:
      return { message: 'The service could not be reached. Check the network connection and try again.' };
    case 401:
      return { message: 'Your sign-in has expired or was not accepted. Sign out and sign in again.', requestId };
    case 403:
      return {
        message: `You may not ${doing}: your account lacks the role it needs. Ask an admin if you should have it. (${error.message})`,
        requestId,
      };
    case 404:
      return { message: 'That key no longer exists: it may have been deleted since the search. Search again.', requestId };
    case 429:
      return {
        message: `Too many keys were revealed from your account in the last minute. Try again ${wait(error.retryAfter)}.`,
        requestId,
      };
    case 503:
      return { message: `The service is busy or cannot reach its storage. Try again ${wait(error.retryAfter)}.`, requestId };
    default:
      return {
        message: error.status >= 500 ? 'The service failed. Report it to the admins with the request-id below.' : error.message,
        requestId,
      };
  }
}

/** Shows `problem` in `container` (a role=alert element), or hides it when there is none. */
export function showProblem(container: HTMLElement, problem: Explained | undefined): void {
  container.replaceChildren();
  container.hidden = problem === undefined;
  if (!problem) return;
  const message = document.createElement('p');
  message.textContent = problem.message;
  container.append(message);
  if (problem.requestId) {
    const id = document.createElement('p');
    id.className = 'request-id';
    id.textContent = `request-id: ${problem.requestId}`;
    container.append(id);
  }
}
