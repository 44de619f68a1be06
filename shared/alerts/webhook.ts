// One POST of one alert to the incoming webhook, within a budget. fetch (Node's undici) rather than the
// Graph pipeline: a webhook is no Graph endpoint (no token, no Graph retry rules), and one try within
// the budget is the contract: a retry would only eat the reveal's time.

/** The webhook did not take the alert: no answer within the budget, a refused connection, or a status other than 2xx. */
export class AlertNotDelivered extends Error {
  override name = 'AlertNotDelivered';
}

/**
 * POSTs `body` as JSON to `url`, resolving once the webhook answered 2xx within `timeoutMs` (connection,
 * answer and all). Redirects are not followed: a webhook that moves is a misconfiguration to see, not
 * a hop to take with the alert. The error never names the URL: it may carry the webhook's secret.
 */
export async function postAlert(url: string, body: unknown, timeoutMs: number): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const reason = (error as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : 'the connection failed';
    throw new AlertNotDelivered(`The alert webhook did not take the alert: ${reason}.`);
  }
  // The answer's body is of no use; cancelling it frees the connection.
  await response.body?.cancel().catch(() => undefined);
  if (response.status < 200 || response.status > 299) throw new AlertNotDelivered(`The alert webhook answered ${response.status}.`);
}
