<#
.SYNOPSIS
    Escrows this device's BitLocker recovery passwords with the BitLocker key escrow service, proving
    the device's identity with its Entra ID device certificate (the EntraDevice-v1 scheme).

.DESCRIPTION
    For Intune Remediations, running as SYSTEM, in Windows PowerShell 5.1 or PowerShell 7; no modules
    to install. `npm run windows-scripts -- --url https://<function-app>` writes the two scripts to
    upload, Detect-KeyEscrow.ps1 and Remediate-KeyEscrow.ps1: this file with the service URL and the
    mode filled in (Intune passes no parameters to these scripts).

    Detect:    lists this device's escrowed keys and exits 1 when a RecoveryPassword protector of any
               BitLocker volume is missing from them (Intune then runs the remediation), else 0.
    Remediate: escrows only the missing ones.

    Writes one line for the Intune console (Escrowed 2, UpToDate, MissingKeys 1, NoDeviceCertificate,
    NoBitLockerVolumes, Unauthorized: ..., Forbidden: ..., ServiceUnavailable, Failed: ...) and the same
    line to the Application event log (source BitLockerKeyEscrow). Never prints or logs a recovery password.

    The signing steps follow test/vectors/device-proof.json line by line (see New-CanonicalString and
    New-DeviceAuthorization). This script has not been executed: PowerShell cannot run where it was written.

.PARAMETER ServiceUrl
    The escrow service's base URL, e.g. https://contoso-escrow.azurewebsites.net
#>
[CmdletBinding()]
param(
    [string]$ServiceUrl = '__SERVICE_URL__',
    [string]$Mode = '__MODE__'
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

$CollectionPath = '/v1.0/informationProtection/bitlocker/recoveryKeys'
$GuidPattern = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
$EventSource = 'BitLockerKeyEscrow'
$MaxTries = 3
$MaxRetryAfterSeconds = 60

function Write-Result([string]$Line, [int]$ExitCode) {
    # The one line Intune shows (straight to stdout: Write-Output inside a function whose output is
    # assigned would be captured instead), then the same in the event log.
    [Console]::Out.WriteLine($Line)
    try {
        if (-not [System.Diagnostics.EventLog]::SourceExists($EventSource)) {
            [System.Diagnostics.EventLog]::CreateEventSource($EventSource, 'Application')
        }
        $entryType = if ($ExitCode -eq 0) { [System.Diagnostics.EventLogEntryType]::Information } else { [System.Diagnostics.EventLogEntryType]::Warning }
        [System.Diagnostics.EventLog]::WriteEntry($EventSource, "$Mode $Line", $entryType, 1000 + $ExitCode)
    } catch {
        # The event log is a convenience; the result line is what Intune records.
    }
    exit $ExitCode
}

function Get-DeviceCertificate {
    # The Entra ID device certificate: the one JoinInfo names (its subkey is the certificate thumbprint),
    # else one issued by MS-Organization-Access whose subject CN is a GUID (the deviceId).
    $joinInfo = 'HKLM:\SYSTEM\CurrentControlSet\Control\CloudDomainJoin\JoinInfo'
    if (Test-Path -Path $joinInfo) {
        foreach ($key in @(Get-ChildItem -Path $joinInfo)) {
            $candidate = Get-Item -Path ("Cert:\LocalMachine\My\" + $key.PSChildName) -ErrorAction SilentlyContinue
            if ($candidate -and $candidate.HasPrivateKey -and (Get-DeviceId $candidate) -match $GuidPattern) { return $candidate }
        }
    }
    $issued = @(Get-ChildItem -Path 'Cert:\LocalMachine\My' | Where-Object {
            $_.Issuer -match 'CN=MS-Organization-Access' -and $_.HasPrivateKey -and (Get-DeviceId $_) -match $GuidPattern
        } | Sort-Object -Property NotAfter -Descending)
    if ($issued.Count -gt 0) { return $issued[0] }
    return $null
}

function Get-DeviceId($Certificate) {
    return $Certificate.GetNameInfo([System.Security.Cryptography.X509Certificates.X509NameType]::SimpleName, $false)
}

function ConvertTo-LowerHex([byte[]]$Bytes) {
    return -join ($Bytes | ForEach-Object { $_.ToString('x2') })
}

function New-CanonicalString([string]$Method, [string]$PathAndQuery, [string]$Ts, [string]$Nonce, [byte[]]$Body) {
    # Vectors: "canonical" = these six lines joined by LF, no trailing newline.
    #   EntraDevice-v1 / METHOD / path and query as sent / ts / nonce / hex SHA-256 of the body bytes
    if ($null -eq $Body) { $Body = [byte[]]::new(0) }
    $sha256 = [System.Security.Cryptography.SHA256]::Create()
    try { $bodySha256 = ConvertTo-LowerHex $sha256.ComputeHash($Body) } finally { $sha256.Dispose() }
    return (@('EntraDevice-v1', $Method.ToUpperInvariant(), $PathAndQuery, $Ts, $Nonce, $bodySha256) -join "`n")
}

function New-Nonce {
    # 32 random bytes as base64url without padding (43 characters; the protocol allows 16 to 64).
    $bytes = [byte[]]::new(32)
    $random = [System.Security.Cryptography.RandomNumberGenerator]::Create()
    try { $random.GetBytes($bytes) } finally { $random.Dispose() }
    return [Convert]::ToBase64String($bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_')
}

function New-DeviceAuthorization($Certificate, [string]$Method, [string]$PathAndQuery, [byte[]]$Body) {
    # Vectors: "ts" is UTC to the second with Z; "signature" is RSASSA-PKCS1-v1_5 SHA-256 over the
    # UTF-8 bytes of "canonical", base64; "authorization" is the header value, parameters in this order.
    $ts = [DateTime]::UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", [System.Globalization.CultureInfo]::InvariantCulture)
    $nonce = New-Nonce
    $canonical = New-CanonicalString -Method $Method -PathAndQuery $PathAndQuery -Ts $ts -Nonce $nonce -Body $Body
    $rsa = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::GetRSAPrivateKey($Certificate)
    $signature = $rsa.SignData([System.Text.Encoding]::UTF8.GetBytes($canonical), [System.Security.Cryptography.HashAlgorithmName]::SHA256, [System.Security.Cryptography.RSASignaturePadding]::Pkcs1)
    return ('EntraDevice cert="{0}", ts="{1}", nonce="{2}", sig="{3}"' -f [Convert]::ToBase64String($Certificate.RawData), $ts, $nonce, [Convert]::ToBase64String($signature))
}

function Get-RetryAfterSeconds($Response) {
    $retryAfter = $Response.Headers.RetryAfter
    if ($null -ne $retryAfter -and $null -ne $retryAfter.Delta) { return [int][Math]::Ceiling($retryAfter.Delta.Value.TotalSeconds) }
    if ($null -ne $retryAfter -and $null -ne $retryAfter.Date) { return [int][Math]::Max(1, [Math]::Ceiling(($retryAfter.Date.Value - [DateTimeOffset]::UtcNow).TotalSeconds)) }
    return 5
}

function Invoke-Service($Certificate, [string]$Method, [string]$PathAndQuery, [string]$Json) {
    # One signed request, re-signed (new ts and nonce) for each retry after 429 or 503.
    # The path and query signed are the Uri's PathAndQuery: exactly what HttpClient puts on the request line.
    $uri = [System.Uri]::new([System.Uri]$ServiceUrl, $PathAndQuery)
    $body = if ($Json) { [System.Text.Encoding]::UTF8.GetBytes($Json) } else { [byte[]]::new(0) }
    for ($try = 1; ; $try++) {
        $request = [System.Net.Http.HttpRequestMessage]::new([System.Net.Http.HttpMethod]::new($Method), $uri)
        [void]$request.Headers.TryAddWithoutValidation('Authorization', (New-DeviceAuthorization $Certificate $Method $uri.PathAndQuery $body))
        [void]$request.Headers.TryAddWithoutValidation('User-Agent', 'BitLockerKeyEscrow-Intune/1')
        if ($Json) {
            $request.Content = [System.Net.Http.ByteArrayContent]::new($body)
            $request.Content.Headers.ContentType = [System.Net.Http.Headers.MediaTypeHeaderValue]::new('application/json')
        }
        $response = $script:Http.SendAsync($request).GetAwaiter().GetResult()
        $status = [int]$response.StatusCode
        $text = $response.Content.ReadAsStringAsync().GetAwaiter().GetResult()
        if (($status -eq 429 -or $status -eq 503) -and $try -lt $MaxTries) {
            $wait = Get-RetryAfterSeconds $response
            if ($wait -le $MaxRetryAfterSeconds) { Start-Sleep -Seconds ([Math]::Max(1, $wait)); continue }
        }
        return [pscustomobject]@{ Status = $status; Text = $text }
    }
}

function Get-ErrorMessage($Response) {
    # The service's error message (it names the failed check; it never holds a password).
    try { return ($Response.Text | ConvertFrom-Json).error.message } catch { return '' }
}

function Stop-OnFailure($Response) {
    switch ($Response.Status) {
        401 { Write-Result ('Unauthorized: ' + (Get-ErrorMessage $Response)) 1 }
        403 { Write-Result ('Forbidden: ' + (Get-ErrorMessage $Response)) 1 }
        429 { Write-Result 'ServiceUnavailable' 1 }
        503 { Write-Result 'ServiceUnavailable' 1 }
        default { Write-Result ('Failed: ' + $Response.Status) 1 }
    }
}

function Get-EscrowedKeyIds($Certificate, [string]$DeviceId) {
    $ids = @{}
    $path = $CollectionPath + '?$filter=' + [System.Uri]::EscapeDataString("deviceId eq '$DeviceId'")
    while ($path) {
        $response = Invoke-Service $Certificate 'GET' $path $null
        if ($response.Status -ne 200) { Stop-OnFailure $response }
        $page = $response.Text | ConvertFrom-Json
        foreach ($key in @($page.value)) { $ids[$key.id.ToLowerInvariant()] = $true }
        $next = $page.PSObject.Properties['@odata.nextLink']
        $path = if ($next -and $next.Value) { ([System.Uri]$next.Value).PathAndQuery } else { $null }
    }
    return $ids
}

function Get-VolumeType($Volume) {
    if ([string]$Volume.VolumeType -eq 'OperatingSystem') { return 'operatingSystemVolume' }
    try {
        if ([System.IO.DriveInfo]::new([string]$Volume.MountPoint).DriveType -eq [System.IO.DriveType]::Removable) { return 'removableDataVolume' }
    } catch {
        # A volume without a drive letter: a fixed data volume.
    }
    return 'fixedDataVolume'
}

function Get-RecoveryPasswordProtectors {
    # Every RecoveryPassword protector of every BitLocker volume (a volume may have several).
    $found = @()
    foreach ($volume in @(Get-BitLockerVolume -ErrorAction Stop)) {
        foreach ($protector in @($volume.KeyProtector | Where-Object { [string]$_.KeyProtectorType -eq 'RecoveryPassword' })) {
            $found += [pscustomobject]@{
                Id         = $protector.KeyProtectorId.Trim('{', '}').ToLowerInvariant()
                VolumeType = Get-VolumeType $volume
                Protector  = $protector
            }
        }
    }
    return $found
}

if ($Mode -ne 'Detect' -and $Mode -ne 'Remediate') { Write-Result 'Failed: Mode must be Detect or Remediate' 1 }
if ($ServiceUrl -notmatch '^https://') { Write-Result 'Failed: ServiceUrl must be an https URL' 1 }

try {
    Add-Type -AssemblyName System.Net.Http
    $script:Http = [System.Net.Http.HttpClient]::new()
    $script:Http.Timeout = [TimeSpan]::FromSeconds(60)

    $certificate = Get-DeviceCertificate
    if ($null -eq $certificate) { Write-Result 'NoDeviceCertificate' 1 }
    $deviceId = (Get-DeviceId $certificate).ToLowerInvariant()

    $protectors = @(Get-RecoveryPasswordProtectors)
    if ($protectors.Count -eq 0) { Write-Result 'NoBitLockerVolumes' 0 }

    $escrowed = Get-EscrowedKeyIds $certificate $deviceId
    $missing = @($protectors | Where-Object { -not $escrowed.ContainsKey($_.Id) })
    if ($missing.Count -eq 0) { Write-Result 'UpToDate' 0 }
    if ($Mode -eq 'Detect') { Write-Result ('MissingKeys ' + $missing.Count) 1 }

    $count = 0
    foreach ($item in $missing) {
        # The password goes from the protector into the request body and nowhere else.
        $json = [ordered]@{ id = $item.Id; deviceId = $deviceId; volumeType = $item.VolumeType; key = $item.Protector.RecoveryPassword } | ConvertTo-Json -Compress
        $response = Invoke-Service $certificate 'PATCH' $CollectionPath $json
        if ($response.Status -ne 200 -and $response.Status -ne 201) { Stop-OnFailure $response }
        $count++
    }
    Write-Result ('Escrowed ' + $count) 0
} catch {
    # The exception's type only: its message could quote a request.
    Write-Result ('Failed: ' + $_.Exception.GetType().Name) 1
}
