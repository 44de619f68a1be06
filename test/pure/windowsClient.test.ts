import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderScript } from '../../scripts/windowsScripts';
import { vectors } from '../support/deviceVectors';

// PowerShell cannot run here, so the Windows client is held to the pinned vectors as text: the pieces
// of KeyEscrow.ps1 that shape what is signed and sent are evaluated by hand (the way PowerShell would)
// against test/vectors/device-proof.json.

const source = readFileSync(join(__dirname, '../../clients/windows/KeyEscrow.ps1'), 'utf8');

/** PowerShell's -f for {0}..{n}. */
const format = (template: string, ...values: string[]): string => template.replace(/\{(\d)\}/g, (_, i: string) => values[Number(i)]);

describe('clients/windows/KeyEscrow.ps1 follows the vectors', () => {
  it('builds the canonical string from the six lines of the protocol, in order, joined by LF', () => {
    expect(source).toContain('@(\'EntraDevice-v1\', $Method.ToUpperInvariant(), $PathAndQuery, $Ts, $Nonce, $bodySha256) -join "`n"');
    expect(source).toContain("$_.ToString('x2')");
    for (const vector of vectors.accepted) {
      expect(
        ['EntraDevice-v1', vector.method.toUpperCase(), vector.pathAndQuery, vector.ts, vector.nonce, vector.bodySha256].join('\n'),
      ).toBe(vector.canonical);
    }
  });

  it('formats the header exactly as the vectors do', () => {
    const template = /\('(EntraDevice cert="\{0\}", ts="\{1\}", nonce="\{2\}", sig="\{3\}")' -f/.exec(source)?.[1];
    expect(template).toBeDefined();
    for (const vector of vectors.accepted) {
      const device = vectors.devices[vector.device];
      expect(format(template!, device.certificateDerBase64, vector.ts, vector.nonce, vector.signature)).toBe(vector.authorization);
    }
  });

  it('signs with RSASSA-PKCS1-v1_5 SHA-256 over UTF-8, stamps UTC to the second, and makes base64url nonces', () => {
    expect(source).toContain(
      'SignData([System.Text.Encoding]::UTF8.GetBytes($canonical), [System.Security.Cryptography.HashAlgorithmName]::SHA256, [System.Security.Cryptography.RSASignaturePadding]::Pkcs1)',
    );
    expect(source).toContain(`[DateTime]::UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'"`);
    expect(source).toContain(".TrimEnd('=').Replace('+', '-').Replace('/', '_')");
    // Signs the path and query HttpClient sends, and never writes the password anywhere but the body.
    expect(source).toContain('New-DeviceAuthorization $Certificate $Method $uri.PathAndQuery $body');
    expect(source.match(/\.RecoveryPassword\b/g)).toEqual(['.RecoveryPassword']);
  });

  it('is rendered into the two Intune scripts with the URL and mode filled in', () => {
    const detect = renderScript(source, 'https://contoso-escrow.azurewebsites.net', 'Detect');
    expect(detect).toContain("[string]$ServiceUrl = 'https://contoso-escrow.azurewebsites.net'");
    expect(detect).toContain("[string]$Mode = 'Detect'");
    expect(renderScript(source, 'https://x.example', 'Remediate')).toContain("[string]$Mode = 'Remediate'");
    expect(() => renderScript('no placeholders', 'https://x.example', 'Detect')).toThrow(/placeholders/);
  });
});
