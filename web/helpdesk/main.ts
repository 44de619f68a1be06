import { request } from './api';
import type { HelpdeskPageConfig } from '../../shared/helpdesk/pageConfig';
import { setUpCoverage } from './coverage';
import { DeviceNames } from './deviceNames';
import { byId } from './dom';
import { explain, showProblem } from './explain';
import { setUpHistory } from './history';
import { setUpResults } from './results';
import { setUpAwaiting } from './rotation';
import { setUpReveal } from './reveal';
import { setUpApprovals } from './approvals';
import { showMyDevices } from './myDevices';
import { setUpQueue } from './queue';
import { HELPDESK_PERMISSIONS, localSignIn, type Session } from './session';

// The helpdesk console: sign in, find a key by what the recovery screen shows, reveal it with a
// reason, see who saw it. Everything it calls is on its own origin (and, signing in with Entra,
// the tenant's login endpoint).

function start(session: Session, config: HelpdeskPageConfig): void {
  byId('sign-in').hidden = true;
  byId('who-name').textContent = `Signed in as ${session.user}`;
  byId('who').hidden = false;
  byId('console').hidden = false;
  const names = new DeviceNames(session);
  const reveal = setUpReveal(session, config.revealSeconds, names);
  if (!HELPDESK_PERMISSIONS.some((permission) => session.permissions.has(permission))) {
    // A user without a helpdesk role: their own devices instead of the search (the revealed key still shows).
    byId('console')
      .querySelectorAll('section')
      .forEach((section) => (section.hidden = section.id !== 'revealed' || section.hidden));
    byId('sign-out').addEventListener('click', () => void session.signOut().then(() => location.reload()));
    void showMyDevices(session, (row) => reveal.open(row));
    return;
  }
  setUpApprovals(session);
  setUpQueue(session, (row) => reveal.open(row));
  const history = setUpHistory(session, names);
  setUpResults(
    session,
    {
      reveal: (row) => reveal.open(row),
      history: (row) => history.show(row.id),
      clear: () => {
        reveal.hide();
        history.clear();
      },
    },
    names,
  );
  setUpCoverage(session);
  setUpAwaiting(session);
  byId('sign-out').addEventListener('click', () => {
    reveal.hide();
    // A local session lives in this page's memory only: reloading forgets it.
    void session.signOut().then(() => location.reload());
  });
  byId<HTMLInputElement>('search-text').focus();
}

function offerLocalSignIn(config: HelpdeskPageConfig): void {
  const form = byId<HTMLFormElement>('local-sign-in');
  form.hidden = false;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const roles = Array.from(form.querySelectorAll<HTMLInputElement>('input[name=role]:checked')).map((box) => box.value);
    const selfService = byId<HTMLInputElement>('local-self-service').checked;
    if (roles.length === 0 && !selfService) {
      showProblem(byId('problem'), { message: 'Choose at least one role.' });
      return;
    }
    showProblem(byId('problem'), undefined);
    localSignIn(roles, byId<HTMLInputElement>('local-user').value.trim() || 'helpdesk', selfService).then(
      (session) => start(session, config),
      (error: unknown) => showProblem(byId('problem'), explain(error, 'sign in')),
    );
  });
}

async function main(): Promise<void> {
  const config = await request<HelpdeskPageConfig>('GET', '/helpdesk/config.json');
  byId('loading').hidden = true;
  byId('sign-in').hidden = false;
  if (config.signIn === 'local') {
    offerLocalSignIn(config);
  } else if (config.signIn === 'entra') {
    const { entraSignIn } = await import('./entra');
    const entra = await entraSignIn(config);
    if (entra.session) return start(entra.session, config);
    byId('entra-sign-in').hidden = false;
    byId('entra-sign-in-button').addEventListener('click', () => void entra.signIn());
  } else {
    showProblem(byId('problem'), {
      message: `The console is not set up for sign-in yet. An admin needs to set: ${config.missing.join(', ')}.`,
    });
  }
}

main().catch((error: unknown) => {
  byId('loading').hidden = true;
  showProblem(byId('problem'), explain(error, 'open the console'));
});
