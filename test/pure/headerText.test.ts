import { HttpRequest } from '@azure/functions';
import { headerText } from '../../shared/http/headerText';

const withHeader = (value: string): HttpRequest =>
  new HttpRequest({ method: 'GET', url: 'http://127.0.0.1/x', headers: { 'x-test': value } });
const latin1Of = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');

describe('headerText', () => {
  it.each([
    ['UTF-8 text, as the host hands it over', latin1Of('Büro-Helpdesk ✓'), 'Büro-Helpdesk ✓'],
    ['UTF-8 outside the BMP', latin1Of('Key 🔑'), 'Key 🔑'],
    ['plain ASCII', 'Mozilla/5.0 (Windows NT 10.0)', 'Mozilla/5.0 (Windows NT 10.0)'],
    ['Latin-1 that is no UTF-8', 'B\u00fcro', 'B\\xfcro'],
    ['a truncated UTF-8 sequence', latin1Of('✓').slice(0, 2), '\\xe2\\x9c'],
    ['an overlong encoding', '\u00c0\u00af', '\\xc0\\xaf'],
    ['an encoded surrogate', '\u00ed\u00a0\u0080', '\\xed\\xa0\\x80'],
  ])('reads %s', (_what, sent, read) => {
    expect(headerText(withHeader(sent), 'x-test')).toBe(read);
  });

  it('is undefined for an absent header', () => {
    expect(headerText(withHeader('x'), 'x-other')).toBeUndefined();
  });
});
