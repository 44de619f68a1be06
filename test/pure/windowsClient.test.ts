import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderScript, serviceUrlOf } from '../../scripts/build/windowsScripts';

// The renderer of the two Intune scripts. What the script does is the Pester suite's (test/windows):
// it runs the script's own functions against the vectors and a real host.

const source = readFileSync(join(__dirname, '../../clients/windows/KeyEscrow.ps1'), 'utf8');

describe('clients/windows/KeyEscrow.ps1 rendered for Intune', () => {
  it('is ASCII with LF line ends, so that it reads the same in every PowerShell without a BOM', () => {
    expect([...source].filter((c) => c !== '\n' && c !== '\t' && (c < ' ' || c > '~'))).toEqual([]);
    expect(source).not.toContain('\r');
  });

  it('fills in the URL and the mode', () => {
    const detect = renderScript(source, 'https://contoso-escrow.azurewebsites.net', 'Detect');
    expect(detect).toContain("[string]$ServiceUrl = 'https://contoso-escrow.azurewebsites.net'");
    expect(detect).toContain("[string]$Mode = 'Detect'");
    expect(renderScript(source, 'https://x.example', 'Remediate')).toContain("[string]$Mode = 'Remediate'");
    expect(renderScript(source, "https://x.example/o'brien", 'Detect')).toContain("[string]$ServiceUrl = 'https://x.example/o''brien'");
    expect(() => renderScript('no placeholders', 'https://x.example', 'Detect')).toThrow(/placeholders/);
  });

  it('keeps a base path (an API Management or Front Door prefix) and refuses what the script cannot use', () => {
    expect(serviceUrlOf('https://api.contoso.com/escrow/')).toBe('https://api.contoso.com/escrow');
    expect(serviceUrlOf('https://contoso-escrow.azurewebsites.net')).toBe('https://contoso-escrow.azurewebsites.net');
    expect(() => serviceUrlOf('http://contoso-escrow.azurewebsites.net')).toThrow(/https/);
    expect(() => serviceUrlOf('https://x.example/?a=1')).toThrow(/query/);
  });
});
