import { KEYS, listUrl, odataString, type Page, request } from './api';
import { byId, button, h, utcDateTime } from './dom';
import type { DeviceNames } from './deviceNames';
import { explain, showProblem } from './explain';
import { byHolder, type Holder } from './holders';
import { Pager } from './pager';
import { parseSearch, type Search } from './search';
import { rotationText, type RotationAnnotations } from './rotation';
import { READ_AUDIT, READ_KEY, type Session } from './session';

/** A key's metadata and its rotation's annotations, as the list returns them (never the key itself). */
export interface KeyRow extends RotationAnnotations {
  id: string;
  deviceId: string;
  volumeType: string;
  createdDateTime: string;
}

export interface RowActions {
  reveal(row: KeyRow): void;
  history(row: KeyRow): void;
  /** A new search began: what the last one revealed or opened must not stay on screen for the next caller. */
  clear(): void;
}

/** Rows per page: a device rarely has more than a handful of keys, a prefix of 8 characters one. */
export const PAGE_SIZE = 25;
/**
 * A prefix search loads every match up to this many, so that no key is left on a page nobody opens:
 * a device may hold 200 keys (MAX_KEYS_PER_DEVICE), so this is a few devices' worth of decoys.
 */
export const PREFIX_MATCHES_LOADED = 1000;
const PREFIX_PAGE_SIZE = 200;

const VOLUME_TYPES: Readonly<Record<string, string>> = {
  operatingSystemVolume: 'Operating system',
  fixedDataVolume: 'Fixed data',
  removableDataVolume: 'Removable data',
};

function firstUrls(search: Exclude<Search, { kind: 'invalid' }>): string[] {
  const top = String(PAGE_SIZE);
  if (search.kind === 'keyPrefix')
    return [listUrl(KEYS, { $filter: `startswith(id,${odataString(search.prefix)})`, $top: String(PREFIX_PAGE_SIZE) })];
  return [
    listUrl(KEYS, { $filter: `deviceId eq ${odataString(search.id)}`, $top: top }),
    listUrl(KEYS, { $filter: `id eq ${odataString(search.id)}` }),
  ];
}

/** Which devices hold a prefix's matches, fewest first, named: "2 devices hold them: LAPTOP-7 (1), device 0b8d… (200)". */
function holdersText(holders: readonly Holder[], names: DeviceNames): string {
  if (holders.length < 2) return '';
  const each = holders.map((holder) => `${names.describe(holder.deviceId)} (${holder.count})`).join('; ');
  return ` ${holders.length} devices hold them, the fewest matches first: ${each}. Ask the user for their device's name.`;
}

function summary(search: Exclude<Search, { kind: 'invalid' }>, count: number, more: boolean): string {
  const many = more ? `More than ${count}` : String(count);
  if (count === 0) {
    return search.kind === 'keyPrefix'
      ? `No key ID starts with ${search.prefix}. Check the characters with the user, or search by device ID.`
      : `No key of a device or with the ID ${search.id}.`;
  }
  if (search.kind === 'guid') return count === 1 ? 'One key found.' : `${many} keys found for ${search.id}, newest first.`;
  if (count === 1) return `One key ID starts with ${search.prefix}.`;
  return `${many} key IDs start with ${search.prefix}. Ask the user to read out more characters of the key ID.`;
}

/** The search form and its results table. */
export function setUpResults(session: Session, actions: RowActions, names: DeviceNames): void {
  const form = byId<HTMLFormElement>('search-form');
  const input = byId<HTMLInputElement>('search-text');
  const section = byId('results');
  const table = byId('results-table');
  const rows = byId('results-rows');
  const summaryText = byId('results-summary');
  const problem = byId('problem');
  let current: Exclude<Search, { kind: 'invalid' }> | undefined;

  const render = (): void => {
    if (!current) return;
    // One row per key id and device: several devices may hold one id (a cloned disk, or a squat), and
    // the helpdesk must see each with its device to pick the caller's.
    const seen = new Set<string>();
    const unique = pager.items.filter((row) => !seen.has(`${row.id} ${row.deviceId}`) && seen.add(`${row.id} ${row.deviceId}`));
    const { rows: keys, holders } =
      current.kind === 'keyPrefix'
        ? byHolder(unique)
        : { rows: unique.sort((a, b) => b.createdDateTime.localeCompare(a.createdDateTime)), holders: [] };
    const text = summary(current, keys.length, pager.hasMore);
    summaryText.textContent = text;
    // Names arrive after the rows; the summary names the holders once they are known.
    const search = current;
    void Promise.all(holders.map((holder) => names.of(holder.deviceId))).then(() => {
      if (current === search) summaryText.textContent = text + holdersText(holders, names);
    });
    table.hidden = keys.length === 0;
    rows.replaceChildren(...keys.map((row) => rowOf(row)));
  };

  const rowOf = (row: KeyRow): HTMLTableRowElement => {
    const cells: (Node | string)[] = [];
    if (session.permissions.has(READ_KEY))
      cells.push(button('Reveal key', () => actions.reveal(row), { 'aria-label': `Reveal key ${row.id} of device ${row.deviceId}` }));
    else cells.push(h('span', { class: 'hint' }, 'Revealing needs the BitLockerKey.Read.All role.'));
    if (session.permissions.has(READ_AUDIT))
      cells.push(
        ' ',
        button('History', () => actions.history(row), { 'aria-label': `History of key ${row.id}` }),
      );
    return h(
      'tr',
      {},
      h('td', { class: 'mono' }, row.id),
      h('td', {}, names.label(row.deviceId)),
      h('td', {}, VOLUME_TYPES[row.volumeType] ?? row.volumeType),
      h('td', {}, utcDateTime(row.createdDateTime)),
      h('td', {}, rotationText(row)),
      h('td', { class: 'row-actions' }, ...cells),
    );
  };

  const fail = (error: unknown): void => showProblem(problem, explain(error, 'find keys'));
  const pager = new Pager<KeyRow>(
    byId<HTMLButtonElement>('results-more'),
    async (url) => request<Page<KeyRow>>('GET', url, { token: await session.accessToken() }),
    render,
    fail,
  );

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const search = parseSearch(input.value);
    showProblem(problem, undefined);
    if (search.kind === 'invalid') {
      showProblem(problem, { message: search.problem });
      input.focus();
      return;
    }
    actions.clear();
    current = search;
    void pager
      .reset(firstUrls(search))
      // A device's page may come back short (the service confirms a bounded number of new keys a page):
      // the console fills its first page, so a device's newest keys are all on it.
      .then(() => pager.loadRest(search.kind === 'keyPrefix' ? PREFIX_MATCHES_LOADED : PAGE_SIZE))
      .then(() => {
        section.hidden = false;
      }, fail);
  });
}
