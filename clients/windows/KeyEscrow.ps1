<#
.SYNOPSIS
    Escrows this device's BitLocker recovery passwords with the BitLocker key escrow service, proving
    the device's identity with its Entra ID device certificate (the EntraDevice-v1 scheme).

.DESCRIPTION
    For Intune Remediations, running as SYSTEM in 64-bit Windows PowerShell 5.1; no modules to
    install. `npm run windows-scripts -- --url https://<function-app>` writes the two scripts to
    upload, Detect-KeyEscrow.ps1 and Remediate-KeyEscrow.ps1: this file with the service URL and the
    mode filled in (Intune passes no parameters to these scripts).

    Detect:    lists this device's escrowed keys and exits 1 when a readable RecoveryPassword
               protector of a BitLocker volume is missing from them (Intune then runs the
               remediation), else 0.
    Remediate: escrows the missing ones, one by one; a key the service refuses is counted and the
               run goes on to the next.

    Writes one line (at most 2,048 characters) for the Intune console and the same line to the
    Application event log (source BitLockerKeyEscrow). Never prints or logs a recovery password.
    The words, their exit codes and the layout of this file are in docs/devices.md.

    Dot-sourced (`. ./KeyEscrow.ps1`), the file only defines its functions: the Pester suite under
    test/windows replaces the few that reach what only Windows has (the "seams" below).

.PARAMETER ServiceUrl
    The escrow service's base URL, e.g. https://contoso-escrow.azurewebsites.net (a path, such as
    https://api.contoso.com/escrow, is kept). Plain http only on loopback, for trying it locally.
#>
[CmdletBinding()]
param(
    [string]$ServiceUrl = '__SERVICE_URL__',
    [string]$Mode = '__MODE__'
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

$script:CollectionPath = '/v1.0/informationProtection/bitlocker/recoveryKeys'
$script:StatusPath = '/v1.0/informationProtection/bitlocker/deviceStatuses'
# Sent as the status's clientVersion and in User-Agent: which client reported what.
$script:ClientVersion = '3'
$script:GuidPattern = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
$script:EventSource = 'BitLockerKeyEscrow'
$script:MaxTries = 3
$script:MaxRetryAfterSeconds = 60
# A device has at most a few hundred keys; the service pages them by the hundred.
$script:MaxListPages = 20
$script:MaxResponseBytes = 1048576
$script:MaxLineLength = 2048
$script:MaxMessageLength = 300

#region Seams: what only Windows has. The tests replace exactly these functions.

function Test-Wow64Process {
    # A 32-bit host on 64-bit Windows (Intune's "Run script in 64-bit PowerShell: No"): the BitLocker
    # module and the native registry view are only guaranteed in the 64-bit host.
    return ([Environment]::Is64BitOperatingSystem -and -not [Environment]::Is64BitProcess)
}

function Get-JoinInfoSubkeyName {
    # Subkeys of JoinInfo: the device certificate's thumbprint, or on Windows 365 Cloud PCs the deviceId.
    $joinInfo = 'HKLM:\SYSTEM\CurrentControlSet\Control\CloudDomainJoin\JoinInfo'
    if (-not (Test-Path -Path $joinInfo)) { return @() }
    return @(Get-ChildItem -Path $joinInfo | ForEach-Object { $_.PSChildName })
}

function Get-MachineCertificate {
    return @(Get-ChildItem -Path 'Cert:\LocalMachine\My')
}

function Get-BitLockerVolumeSet {
    # Every volume BitLocker reports; a volume it cannot read is counted, not fatal.
    $volumeErrors = @()
    $volumes = @(Get-BitLockerVolume -ErrorAction SilentlyContinue -ErrorVariable volumeErrors)
    return [pscustomobject]@{ Volumes = $volumes; ErrorCount = @($volumeErrors).Count }
}

function Get-EncryptableVolumeType {
    # BitLocker's own classification (Win32_EncryptableVolume.VolumeType, Windows 8 and later:
    # 0 operating system, 1 fixed data, 2 portable data), by drive letter and by volume GUID path.
    $types = @{}
    try {
        $volumes = @(Get-CimInstance -Namespace 'root\CIMV2\Security\MicrosoftVolumeEncryption' -ClassName 'Win32_EncryptableVolume')
        foreach ($volume in $volumes) {
            $type = $volume.CimInstanceProperties['VolumeType']
            if ($null -eq $type -or $null -eq $type.Value) { continue }
            foreach ($name in @($volume.DriveLetter, $volume.DeviceID)) {
                if ($name) { $types[[string]$name] = [int]$type.Value }
            }
        }
    } catch {
        # Without WMI the type falls back to Get-BitLockerVolume's OperatingSystem/Data.
    }
    return $types
}

function Add-RecoveryPasswordProtector([string]$MountPoint) {
    # A new random 48-digit recovery password on the volume. Returns what the cmdlet outputs: the
    # BitLockerVolume, whose KeyProtector list holds the new protector with its RecoveryPassword. The
    # cmdlet also writes the new password in a warning ("save this numerical recovery password"): silenced.
    return Add-BitLockerKeyProtector -MountPoint $MountPoint -RecoveryPasswordProtector -WarningAction SilentlyContinue -ErrorAction Stop
}

function Remove-RecoveryPasswordProtector([string]$MountPoint, [string]$KeyProtectorId) {
    # One protector, by its id as BitLocker writes it ({GUID}); only ever a RecoveryPassword one.
    Remove-BitLockerKeyProtector -MountPoint $MountPoint -KeyProtectorId $KeyProtectorId -Confirm:$false -ErrorAction Stop | Out-Null
}

function Write-EscrowEvent([string]$Line, [int]$ExitCode) {
    try {
        if (-not [System.Diagnostics.EventLog]::SourceExists($script:EventSource)) {
            [System.Diagnostics.EventLog]::CreateEventSource($script:EventSource, 'Application')
        }
        $entryType = if ($ExitCode -eq 0) { [System.Diagnostics.EventLogEntryType]::Information } else { [System.Diagnostics.EventLogEntryType]::Warning }
        [System.Diagnostics.EventLog]::WriteEntry($script:EventSource, $Line, $entryType, 1000 + $ExitCode)
    } catch {
        # The event log is a convenience (a new source can fail on its first run); stdout is what Intune records.
    }
}

#endregion

#region The protocol: canonical string, signature, request target

function ConvertTo-LowerHex([byte[]]$Bytes) {
    return -join ($Bytes | ForEach-Object { $_.ToString('x2') })
}

function ConvertTo-CanonicalTarget([string]$PathAndQuery) {
    # The path and query in the one form both ends sign (docs/devices.md, test/vectors/canonical-path.json):
    # every character outside A-Z a-z 0-9 -._~ and /?&=$:@,;+ percent-encoded as UTF-8 (a % that
    # starts no escape too), escapes of unreserved characters decoded, other escapes in upper case,
    # and a ? with nothing after it dropped.
    if ($PathAndQuery.IndexOf('?') -eq $PathAndQuery.Length - 1) { $PathAndQuery = $PathAndQuery.Substring(0, $PathAndQuery.Length - 1) }
    $pattern = '%([0-9A-Fa-f]{2})|[\uD800-\uDBFF][\uDC00-\uDFFF]|[^A-Za-z0-9\-._~/?&=$:@,;+]'
    $evaluator = {
        param($match)
        if ($match.Groups[1].Success) {
            $decoded = [char][Convert]::ToInt32($match.Groups[1].Value, 16)
            if ([string]$decoded -cmatch '^[A-Za-z0-9\-._~]$') { return [string]$decoded }
            return '%' + $match.Groups[1].Value.ToUpperInvariant()
        }
        return -join ([System.Text.Encoding]::UTF8.GetBytes($match.Value) | ForEach-Object { '%' + $_.ToString('X2') })
    }
    return [regex]::Replace($PathAndQuery, $pattern, [System.Text.RegularExpressions.MatchEvaluator]$evaluator)
}

function New-CanonicalString([string]$Method, [string]$PathAndQuery, [string]$Ts, [string]$Nonce, [byte[]]$Body) {
    # Six lines joined by LF, no trailing newline:
    #   EntraDevice-v1 / METHOD / canonical path and query / ts / nonce / hex SHA-256 of the body bytes
    if ($null -eq $Body) { $Body = [byte[]]::new(0) }
    $sha256 = [System.Security.Cryptography.SHA256]::Create()
    try { $bodySha256 = ConvertTo-LowerHex $sha256.ComputeHash($Body) } finally { $sha256.Dispose() }
    return (@('EntraDevice-v1', $Method.ToUpperInvariant(), (ConvertTo-CanonicalTarget $PathAndQuery), $Ts, $Nonce, $bodySha256) -join "`n")
}

function New-Nonce {
    # 32 random bytes as base64url without padding (43 characters; the protocol allows 16 to 64).
    $bytes = [byte[]]::new(32)
    $random = [System.Security.Cryptography.RandomNumberGenerator]::Create()
    try { $random.GetBytes($bytes) } finally { $random.Dispose() }
    return [Convert]::ToBase64String($bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_')
}

function New-ProofTimestamp {
    return [DateTime]::UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", [System.Globalization.CultureInfo]::InvariantCulture)
}

function New-DeviceAuthorization($Certificate, [string]$Method, [string]$PathAndQuery, [byte[]]$Body, [string]$Ts, [string]$Nonce) {
    # The Authorization header value: RSASSA-PKCS1-v1_5 SHA-256 over the UTF-8 canonical string, base64.
    if (-not $Ts) { $Ts = New-ProofTimestamp }
    if (-not $Nonce) { $Nonce = New-Nonce }
    $canonical = New-CanonicalString -Method $Method -PathAndQuery $PathAndQuery -Ts $Ts -Nonce $Nonce -Body $Body
    $rsa = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::GetRSAPrivateKey($Certificate)
    $signature = $rsa.SignData([System.Text.Encoding]::UTF8.GetBytes($canonical), [System.Security.Cryptography.HashAlgorithmName]::SHA256, [System.Security.Cryptography.RSASignaturePadding]::Pkcs1)
    return ('EntraDevice cert="{0}", ts="{1}", nonce="{2}", sig="{3}"' -f [Convert]::ToBase64String($Certificate.RawData), $Ts, $Nonce, [Convert]::ToBase64String($signature))
}

function Get-ListPath([string]$DeviceId) {
    # Written out, not escaped by [Uri]::EscapeDataString: Windows PowerShell 5.1 (.NET Framework's
    # RFC 2396 rules) would leave the quotes raw and PowerShell 7 would not.
    return $script:CollectionPath + '?$filter=deviceId%20eq%20%27' + $DeviceId.ToLowerInvariant() + '%27'
}

#endregion

#region The device

function Get-DeviceId($Certificate) {
    return $Certificate.GetNameInfo([System.Security.Cryptography.X509Certificates.X509NameType]::SimpleName, $false)
}

function Test-DeviceCertificate($Certificate) {
    return ($Certificate.HasPrivateKey -and [string](Get-DeviceId $Certificate) -match $script:GuidPattern)
}

function Find-DeviceCertificate {
    # The Entra ID device certificate: the one a JoinInfo subkey names (by thumbprint; on Cloud PCs by
    # deviceId, the certificate's subject CN), else one issued by MS-Organization-Access, newest first.
    # Returns $null on a device that is not joined, and throws when it is joined but has no usable certificate.
    $subkeys = @(Get-JoinInfoSubkeyName)
    $certificates = @(Get-MachineCertificate | Where-Object { Test-DeviceCertificate $_ })
    foreach ($subkey in $subkeys) {
        foreach ($certificate in $certificates) {
            if ($certificate.Thumbprint -eq $subkey -or [string](Get-DeviceId $certificate) -eq $subkey) { return $certificate }
        }
    }
    $issued = @($certificates | Where-Object { $_.Issuer -match '(^|,\s*)CN=MS-Organization-Access(,|$)' } | Sort-Object -Property NotAfter -Descending)
    if ($issued.Count -gt 0) { return $issued[0] }
    if ($subkeys.Count -gt 0) { throw [System.InvalidOperationException]::new('NoDeviceCertificate') }
    return $null
}

function Get-VolumeType($Volume, [hashtable]$EncryptableTypes) {
    foreach ($name in @([string]$Volume.MountPoint)) {
        if ($EncryptableTypes.ContainsKey($name)) {
            switch ($EncryptableTypes[$name]) {
                0 { return 'operatingSystemVolume' }
                1 { return 'fixedDataVolume' }
                2 { return 'removableDataVolume' }
            }
        }
    }
    if ([string]$Volume.VolumeType -eq 'OperatingSystem') { return 'operatingSystemVolume' }
    return 'fixedDataVolume'
}

function Get-RecoveryPasswordProtector {
    # Every RecoveryPassword protector of every BitLocker volume (a volume may have several). One whose
    # password cannot be read (a locked volume) is returned with Readable = $false.
    $set = Get-BitLockerVolumeSet
    $types = Get-EncryptableVolumeType
    $found = @()
    foreach ($volume in @($set.Volumes)) {
        $locked = [string]$volume.LockStatus -eq 'Locked'
        foreach ($protector in @($volume.KeyProtector | Where-Object { [string]$_.KeyProtectorType -eq 'RecoveryPassword' })) {
            $found += [pscustomobject]@{
                Id         = ConvertTo-KeyId $protector.KeyProtectorId
                VolumeType = Get-VolumeType $volume $types
                MountPoint = [string]$volume.MountPoint
                Locked     = $locked
                Readable   = (-not $locked) -and -not [string]::IsNullOrEmpty([string]$protector.RecoveryPassword)
                Protector  = $protector
            }
        }
    }
    return [pscustomobject]@{ Protectors = $found; VolumeErrors = $set.ErrorCount; VolumeCount = @($set.Volumes).Count }
}

function ConvertTo-KeyId([string]$KeyProtectorId) {
    # BitLocker writes {5F1C4E0A-...}; the service's key ids are bare lower-case GUIDs.
    return $KeyProtectorId.Trim('{', '}').ToLowerInvariant()
}

function Get-ProtectionStatus($Volume) {
    # ProtectionStatus is On or Off (Unknown on a locked volume, which is encrypted all the same); Off on a
    # volume that is encrypted, or being encrypted, and still has its protectors is what Suspend-BitLocker leaves.
    if ([string]$Volume.ProtectionStatus -eq 'On' -or [string]$Volume.LockStatus -eq 'Locked') { return 'on' }
    $protectors = @($Volume.KeyProtector | Where-Object { $null -ne $_ })
    if ([string]$Volume.VolumeStatus -ne 'FullyDecrypted' -and $protectors.Count -gt 0) { return 'suspended' }
    return 'off'
}

function ConvertTo-VolumeReport($Volume, [hashtable]$EncryptableTypes) {
    # One volume as PUT deviceStatuses takes it (docs/coverage.md): ids of its recovery passwords, never one.
    $protectors = @($Volume.KeyProtector | Where-Object { $null -ne $_ })
    $recovery = @($protectors | Where-Object { [string]$_.KeyProtectorType -eq 'RecoveryPassword' } | ForEach-Object { ConvertTo-KeyId $_.KeyProtectorId })
    # Tpm, TpmPin, ExternalKey... as the service names them: tpm, tpmPin, externalKey.
    $others = @($protectors | Where-Object { [string]$_.KeyProtectorType -ne 'RecoveryPassword' } | ForEach-Object {
            $type = [string]$_.KeyProtectorType
            if ($type) { $type.Substring(0, 1).ToLowerInvariant() + $type.Substring(1) }
        } | Sort-Object -Unique)
    # Casts make plain arrays: Windows PowerShell 5.1 writes an array wrapped in a PSObject as {"value":...,"Count":...}.
    $report = [ordered]@{
        volumeType          = Get-VolumeType $Volume $EncryptableTypes
        protectionStatus    = Get-ProtectionStatus $Volume
        recoveryPasswordIds = [string[]]$recovery
    }
    $mountPoint = ([string]$Volume.MountPoint) -replace '[^\x20-\x7e]', '?'
    if ($mountPoint) { $report['mountPoint'] = $mountPoint.Substring(0, [Math]::Min(260, $mountPoint.Length)) }
    $percentage = $Volume.EncryptionPercentage
    if ($null -ne $percentage -and [double]$percentage -ge 0 -and [double]$percentage -le 100) { $report['encryptionPercentage'] = [Math]::Round([double]$percentage, 1) }
    $report['keyProtectorTypes'] = [string[]]$others
    return $report
}

#endregion

#region HTTP

function Enable-Tls12 {
    # Windows PowerShell has no target framework, so .NET Framework gives it 4.0's defaults: SSL 3 and
    # TLS 1.0 unless the machine sets SchUseStrongCrypto. OR keeps TLS 1.3 and SystemDefault where present.
    [Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12
}

function New-HttpClient {
    Add-Type -AssemblyName System.Net.Http
    Enable-Tls12
    $handler = [System.Net.Http.HttpClientHandler]::new()
    # A redirect (a sign-in page in front of the service) is reported, not followed.
    $handler.AllowAutoRedirect = $false
    $client = [System.Net.Http.HttpClient]::new($handler)
    $client.Timeout = [TimeSpan]::FromSeconds(60)
    return $client
}

function Join-ServiceUri([string]$BaseUrl, [string]$PathAndQuery) {
    # Concatenated, not [Uri]::new(base, "/v1.0/..."), which would drop a base path such as /escrow.
    return [System.Uri]::new($BaseUrl.TrimEnd('/') + $PathAndQuery)
}

function Get-RetryAfterSeconds($Response) {
    # Delta and Date are Nullable: PowerShell hands back the value or $null, never a .Value.
    $retryAfter = $Response.Headers.RetryAfter
    if ($null -eq $retryAfter) { return 5 }
    if ($null -ne $retryAfter.Delta) { return [int][Math]::Ceiling($retryAfter.Delta.TotalSeconds) }
    if ($null -ne $retryAfter.Date) { return [int][Math]::Max(1, [Math]::Ceiling(($retryAfter.Date - [DateTimeOffset]::UtcNow).TotalSeconds)) }
    return 5
}

function Read-BoundedBody($Response) {
    # At most MaxResponseBytes: a broken or hostile service cannot make the script hold a huge answer.
    $stream = $Response.Content.ReadAsStreamAsync().GetAwaiter().GetResult()
    try {
        $memory = [System.IO.MemoryStream]::new()
        $buffer = [byte[]]::new(65536)
        while (($read = $stream.Read($buffer, 0, $buffer.Length)) -gt 0) {
            $memory.Write($buffer, 0, $read)
            if ($memory.Length -gt $script:MaxResponseBytes) { return [pscustomobject]@{ Text = ''; TooLarge = $true } }
        }
        return [pscustomobject]@{ Text = [System.Text.Encoding]::UTF8.GetString($memory.ToArray()); TooLarge = $false }
    } finally {
        $stream.Dispose()
    }
}

function Invoke-Service($Http, [string]$BaseUrl, $Certificate, [string]$Method, [string]$PathAndQuery, [string]$Json) {
    # One signed request, re-signed (new ts and nonce) for each retry after 429 or 503.
    $uri = Join-ServiceUri $BaseUrl $PathAndQuery
    $body = if ($Json) { [System.Text.Encoding]::UTF8.GetBytes($Json) } else { [byte[]]::new(0) }
    for ($try = 1; ; $try++) {
        $request = [System.Net.Http.HttpRequestMessage]::new([System.Net.Http.HttpMethod]::new($Method), $uri)
        # Signs what HttpClient puts on the request line; the service brings both to the canonical form.
        [void]$request.Headers.TryAddWithoutValidation('Authorization', (New-DeviceAuthorization $Certificate $Method $uri.PathAndQuery $body))
        [void]$request.Headers.TryAddWithoutValidation('User-Agent', "BitLockerKeyEscrow-Intune/$($script:ClientVersion)")
        if ($Json) {
            $request.Content = [System.Net.Http.ByteArrayContent]::new($body)
            $request.Content.Headers.ContentType = [System.Net.Http.Headers.MediaTypeHeaderValue]::new('application/json')
        }
        $response = $Http.SendAsync($request, [System.Net.Http.HttpCompletionOption]::ResponseHeadersRead).GetAwaiter().GetResult()
        try {
            $status = [int]$response.StatusCode
            if (($status -eq 429 -or $status -eq 503) -and $try -lt $script:MaxTries) {
                $wait = Get-RetryAfterSeconds $response
                if ($wait -le $script:MaxRetryAfterSeconds) { Start-Sleep -Seconds ([Math]::Max(1, $wait)); continue }
            }
            $read = Read-BoundedBody $response
            $contentType = if ($null -ne $response.Content.Headers.ContentType) { [string]$response.Content.Headers.ContentType.MediaType } else { '' }
            $location = if ($null -ne $response.Headers.Location) { $response.Headers.Location } else { $null }
            return [pscustomobject]@{ Status = $status; Text = $read.Text; TooLarge = $read.TooLarge; ContentType = $contentType; Location = $location }
        } finally {
            $response.Dispose()
        }
    }
}

#endregion

#region The result line

function Protect-Text([string]$Text, [int]$MaxLength) {
    # Text from the service goes on the line: one line of printable ASCII (no line separator, bidi or
    # other control character survives), bounded, and never anything that could be a recovery password
    # or a part of one: two or more groups of 6 digits whatever stands between them, or 12 digits in a row.
    $clean = $Text -replace '[^\x20-\x7e]+', ' '
    $clean = $clean -replace '\d{6}(?:[^0-9A-Za-z]{0,3}\d{6})+|\d{12,}', '<recovery password>'
    if ($clean.Length -gt $MaxLength) { $clean = $clean.Substring(0, $MaxLength - 3) + '...' }
    return $clean.Trim()
}

function Get-ServiceError($Response) {
    # Graph's error JSON ({"error":{"code","message"}}), or $null for anything else.
    if ($Response.TooLarge -or $Response.ContentType -notmatch 'json') { return $null }
    try { $parsed = $Response.Text | ConvertFrom-Json } catch { return $null }
    if ($null -eq $parsed -or $null -eq $parsed.PSObject.Properties['error'] -or $null -eq $parsed.error) { return $null }
    $message = $parsed.error.PSObject.Properties['message']
    return [string]$(if ($null -ne $message) { $message.Value } else { '' })
}

function Get-StatusWord([int]$Status) {
    switch ($Status) {
        400 { return 'BadRequest' }
        401 { return 'Unauthorized' }
        403 { return 'Forbidden' }
        404 { return 'NotFound' }
        409 { return 'Conflict' }
        429 { return 'ServiceUnavailable' }
        503 { return 'ServiceUnavailable' }
    }
    return "HTTP $Status"
}

function Get-FailureText($Response) {
    # What went wrong with one answer, in words an admin can act on.
    $status = $Response.Status
    if ($status -ge 300 -and $status -lt 400) {
        $to = if ($null -ne $Response.Location -and $Response.Location.IsAbsoluteUri) { $Response.Location.Host } else { 'elsewhere' }
        return "Redirected ($status) to $to; is ServiceUrl the escrow service?"
    }
    if ($Response.TooLarge) { return "$(Get-StatusWord $status): the answer is larger than $($script:MaxResponseBytes) bytes; is ServiceUrl the escrow service?" }
    $message = Get-ServiceError $Response
    if ($null -eq $message) {
        $kind = if ($Response.ContentType) { $Response.ContentType } else { 'no content type' }
        return "$(Get-StatusWord $status): the answer is not the escrow service's ($kind)"
    }
    return "$(Get-StatusWord $status): $(Protect-Text $message $script:MaxMessageLength)"
}

function New-Result([string]$Line, [int]$ExitCode) {
    return [pscustomobject]@{ Line = (Protect-Text $Line $script:MaxLineLength); ExitCode = $ExitCode }
}

#endregion

function Get-AnnotationText($Key, [string]$Name) {
    # An instance annotation's value as text, or '' when it is absent, null or not a string.
    $property = $Key.PSObject.Properties[$Name]
    if ($null -eq $property -or $property.Value -isnot [string]) { return '' }
    return [string]$property.Value
}

function Get-EscrowedKeyIds($Http, [string]$BaseUrl, $Certificate, [string]$DeviceId) {
    # This device's escrowed keys (every page) by id, each with its disclosure marks (Disclosed, and
    # SupersededBy: the successor's id or ''); or the failure text of the answer that stopped it.
    $ids = @{}
    $path = Get-ListPath $DeviceId
    $base = [System.Uri]::new($BaseUrl.TrimEnd('/') + '/')
    # A hostile or broken service must not keep a signed loop going: no page twice, and a bound on pages.
    $seen = @{}
    while ($path) {
        if ($seen.ContainsKey($path) -or $seen.Count -ge $script:MaxListPages) {
            return [pscustomobject]@{ Ids = $null; Failure = "Failed: the service's next page links go round or past $($script:MaxListPages) pages" }
        }
        $seen[$path] = $true
        $response = Invoke-Service $Http $BaseUrl $Certificate 'GET' $path $null
        if ($response.Status -ne 200) { return [pscustomobject]@{ Ids = $null; Failure = (Get-FailureText $response) } }
        $page = $null
        if (-not $response.TooLarge -and $response.ContentType -match 'json') { try { $page = $response.Text | ConvertFrom-Json } catch { $page = $null } }
        if ($null -eq $page -or $null -eq $page.PSObject.Properties['value']) {
            return [pscustomobject]@{ Ids = $null; Failure = (Get-FailureText $response) }
        }
        foreach ($key in @($page.value)) {
            # An entry without a string id (a broken or hostile answer) names no key: it is not counted as escrowed.
            $idProperty = if ($null -ne $key) { $key.PSObject.Properties['id'] } else { $null }
            if ($null -eq $idProperty -or $idProperty.Value -isnot [string]) { continue }
            # A date-shaped annotation may come back as a DateTime from ConvertFrom-Json: present is what counts.
            $disclosed = $key.PSObject.Properties['@escrow.disclosedDateTime']
            $ids[$idProperty.Value.ToLowerInvariant()] = [pscustomobject]@{
                Disclosed    = ($null -ne $disclosed -and $null -ne $disclosed.Value -and [string]$disclosed.Value -ne '')
                SupersededBy = (Get-AnnotationText $key '@escrow.supersededBy').ToLowerInvariant()
            }
        }
        $path = $null
        $next = $page.PSObject.Properties['@odata.nextLink']
        if ($null -ne $next -and $next.Value) {
            $nextUri = [System.Uri]::new([string]$next.Value)
            # Only a next page of this service: a signed request goes nowhere else.
            if (-not $base.IsBaseOf($nextUri) -or $nextUri.Authority -ne $base.Authority) {
                return [pscustomobject]@{ Ids = $null; Failure = 'Failed: the next page link leaves ServiceUrl' }
            }
            $path = $nextUri.PathAndQuery.Substring($base.AbsolutePath.Length - 1)
        }
    }
    return [pscustomobject]@{ Ids = $ids; Failure = $null }
}

#region Rotation after a reveal

function New-RotationItem([string]$OldId, $Old, [string]$NewId) {
    # One disclosed key to replace: its protector on the disk ($null once removed) and its successor's id.
    return [pscustomobject]@{ OldId = $OldId; Old = $Old; NewId = $NewId; MountPoint = $(if ($null -ne $Old) { $Old.MountPoint } else { '' }) }
}

function Get-RotationPlan($Protectors, [hashtable]$Escrowed) {
    # What the service's disclosure marks ask of this disk.
    #   Rotate: a disclosed key not yet superseded whose protector is on an unlocked OS or fixed volume.
    #   Retire: a disclosed key superseded by a protector that is on the disk (on the same volume while the
    #           old protector is still there): the old protector goes, then the old key (a run cut short).
    #   Skipped: disclosed keys on removable drives or locked volumes, left alone.
    # A disclosed key whose protector is not on the disk at all is no longer this disk's to rotate.
    $rotate = @(); $retire = @(); $skipped = 0
    foreach ($id in @($Escrowed.Keys)) {
        $key = $Escrowed[$id]
        if (-not $key.Disclosed) { continue }
        $old = @($Protectors | Where-Object { $_.Id -eq $id }) | Select-Object -First 1
        if ($null -ne $old -and ($old.Locked -or $old.VolumeType -eq 'removableDataVolume')) { $skipped++; continue }
        if ($key.SupersededBy) {
            $successor = @($Protectors | Where-Object { $_.Id -eq $key.SupersededBy -and ($null -eq $old -or $_.MountPoint -eq $old.MountPoint) })
            if ($successor.Count -gt 0) { $retire += New-RotationItem $id $old $key.SupersededBy }
        } elseif ($null -ne $old) {
            $rotate += New-RotationItem $id $old ''
        }
    }
    return [pscustomobject]@{ Rotate = $rotate; Retire = $retire; Skipped = $skipped; Due = $rotate.Count + $retire.Count }
}

function Add-Successor($Service, $Item, [System.Collections.Generic.HashSet[string]]$Known) {
    # Adds a recovery password to the old one's volume and escrows it with "@escrow.replaces". Sets
    # $Item.NewId and returns '' when the service took it, else the failure text. A new protector the
    # service refused outright (4xx: nothing stored) is taken off again; one whose fate is unknown (no
    # answer, 5xx) stays, and a later run escrows it as a missing key. The old protector is never touched here.
    # $Known: the ids of every protector seen or added this run, so that a second rotation on the same
    # volume tells its new protector from the first one's.
    try {
        $volume = Add-RecoveryPasswordProtector $Item.MountPoint
    } catch {
        return "the new protector could not be added: $(Get-ExceptionText $_)"
    }
    $added = @(@($volume) | Where-Object { $null -ne $_ } | ForEach-Object { @($_.KeyProtector) } | Where-Object {
            $null -ne $_ -and [string]$_.KeyProtectorType -eq 'RecoveryPassword' -and -not $Known.Contains((ConvertTo-KeyId $_.KeyProtectorId))
        })
    if ($added.Count -ne 1) { return 'the new protector is not on the volume BitLocker returned' }
    $new = $added[0]
    $Item.NewId = ConvertTo-KeyId $new.KeyProtectorId
    [void]$Known.Add($Item.NewId)
    # The password goes from the protector into the request body and nowhere else.
    $json = [ordered]@{ id = $Item.NewId; deviceId = $Service.DeviceId; volumeType = $Item.Old.VolumeType; key = [string]$new.RecoveryPassword; '@escrow.replaces' = $Item.OldId } | ConvertTo-Json -Compress
    try {
        $response = Invoke-DeviceRequest $Service 'PATCH' $script:CollectionPath $json
    } catch {
        return Get-ExceptionText $_
    }
    if ($response.Status -eq 200 -or $response.Status -eq 201) { return '' }
    if ($response.Status -ge 400 -and $response.Status -lt 500 -and $response.Status -ne 429) {
        try { Remove-RecoveryPasswordProtector $Item.MountPoint ([string]$new.KeyProtectorId) } catch { return "$(Get-FailureText $response) (the new protector stays: $(Get-ExceptionText $_))" }
    }
    return Get-FailureText $response
}

function Complete-Rotation($Service, $Item) {
    # Removes the old protector and deletes the old key, once the successor is on the same volume as
    # BitLocker reads it now. Returns Removed (the old protector left the disk), Retired (the old key is
    # gone from the service) and Failure.
    $disk = @((Get-RecoveryPasswordProtector).Protectors)
    $successor = @($disk | Where-Object { $_.Id -eq $Item.NewId -and ($Item.MountPoint -eq '' -or $_.MountPoint -eq $Item.MountPoint) })
    if ($successor.Count -eq 0) { return [pscustomobject]@{ Removed = $false; Retired = $false; Failure = 'the successor is not on the volume' } }
    $old = @($disk | Where-Object { $_.Id -eq $Item.OldId -and $_.MountPoint -eq $successor[0].MountPoint })
    $removed = $false
    if ($old.Count -gt 0) {
        try {
            Remove-RecoveryPasswordProtector $old[0].MountPoint ([string]$old[0].Protector.KeyProtectorId)
            $removed = $true
        } catch {
            return [pscustomobject]@{ Removed = $false; Retired = $false; Failure = "the old protector could not be removed: $(Get-ExceptionText $_)" }
        }
    }
    try {
        $response = Invoke-DeviceRequest $Service 'DELETE' "$($script:CollectionPath)/$($Item.OldId)" $null
    } catch {
        return [pscustomobject]@{ Removed = $removed; Retired = $false; Failure = Get-ExceptionText $_ }
    }
    # 404: already retired (a run whose answer was lost).
    if ($response.Status -eq 204 -or $response.Status -eq 200 -or $response.Status -eq 404) { return [pscustomobject]@{ Removed = $removed; Retired = $true; Failure = '' } }
    return [pscustomobject]@{ Removed = $removed; Retired = $false; Failure = (Get-FailureText $response) }
}

function Invoke-Rotation($Service, $Plan, $Protectors) {
    # For each disclosed key: a successor added and escrowed, confirmed in the service's list, and only
    # then the old protector removed and the old key deleted. Returns the words for the line and whether
    # anything failed (the next run picks up where this one stopped).
    $failures = @()
    $escrowed = @()
    $known = [System.Collections.Generic.HashSet[string]]::new([string[]]@($Protectors | ForEach-Object { $_.Id }))
    foreach ($item in $Plan.Rotate) {
        $failure = Add-Successor $Service $item $known
        if ($failure) { $failures += $failure } else { $escrowed += $item }
    }
    $confirmed = @()
    if ($escrowed.Count -gt 0) {
        $listed = Get-EscrowedKeyIds $Service.Http $Service.BaseUrl $Service.Certificate $Service.DeviceId
        foreach ($item in $escrowed) {
            $ok = $null -ne $listed.Ids -and $listed.Ids.ContainsKey($item.NewId) -and
                (-not $listed.Ids.ContainsKey($item.OldId) -or $listed.Ids[$item.OldId].SupersededBy -eq $item.NewId)
            if ($ok) { $confirmed += $item } elseif ($null -eq $listed.Ids) { $failures += $listed.Failure } else { $failures += 'the service does not list the new key as the successor' }
        }
    }
    $rotated = 0; $retired = 0
    foreach ($item in @($confirmed) + @($Plan.Retire)) {
        $done = Complete-Rotation $Service $item
        if ($done.Removed) { $rotated++ } elseif ($done.Retired) { $retired++ }
        if ($done.Failure) { $failures += $done.Failure }
    }
    $parts = @("Rotated $rotated")
    if ($retired -gt 0) { $parts += "Retired $retired" }
    if ($failures.Count -gt 0) { $parts += "RotationFailed $($failures.Count): $($failures[0])" }
    return [pscustomobject]@{ Parts = $parts; Failed = ($failures.Count -gt 0) }
}

#endregion

function Get-ExceptionText($ErrorRecord) {
    # The innermost exception's type and HRESULT only: a message could quote a request.
    $base = $ErrorRecord.Exception.GetBaseException()
    return ('{0} (0x{1:X8})' -f $base.GetType().Name, $base.HResult)
}

function Invoke-DeviceRequest($Service, [string]$Method, [string]$PathAndQuery, [string]$Json) {
    return Invoke-Service $Service.Http $Service.BaseUrl $Service.Certificate $Method $PathAndQuery $Json
}

function Send-DeviceStatus($Service) {
    # PUT deviceStatuses/{deviceId} with what is on the disks now, read afresh. Returns $null once stored,
    # else the words for the result line: the status is a report, its failure fails nothing else.
    $set = Get-BitLockerVolumeSet
    # A status without a volume BitLocker could not read would make its keys look stale: better none.
    if ($set.ErrorCount -gt 0) { return 'StatusSkipped: a volume could not be read' }
    $types = Get-EncryptableVolumeType
    $volumes = @($set.Volumes | Where-Object { $null -ne $_ } | ForEach-Object { ConvertTo-VolumeReport $_ $types })
    $json = [ordered]@{ volumes = [object[]]$volumes; clientVersion = "KeyEscrow.ps1/$($script:ClientVersion)" } | ConvertTo-Json -Depth 5 -Compress
    try {
        $response = Invoke-DeviceRequest $Service 'PUT' "$($script:StatusPath)/$($Service.DeviceId)" $json
    } catch {
        return "StatusFailed: $(Get-ExceptionText $_)"
    }
    if ($response.Status -eq 200) { return $null }
    return "StatusFailed: $(Get-FailureText $response)"
}

function New-RunOutcome([string[]]$Parts, [int]$ExitCode, [bool]$ReportStatus) {
    return [pscustomobject]@{ Parts = @($Parts); ExitCode = $ExitCode; ReportStatus = $ReportStatus }
}

function Invoke-EscrowStep($Service, [string]$Mode, $Found) {
    # List, then escrow what is missing (Remediate). ReportStatus: whether the service answered this
    # device, so that its status is worth sending.
    $notes = @()
    if ($Found.VolumeErrors -gt 0) { $notes += "VolumeErrors $($Found.VolumeErrors)" }
    if (@($Found.Protectors).Count -eq 0) {
        $word = if ($Found.VolumeCount -eq 0) { 'NoBitLockerVolumes' } else { 'NoRecoveryPasswords' }
        return New-RunOutcome (@($word) + $notes) 0 $true
    }

    $listed = Get-EscrowedKeyIds $Service.Http $Service.BaseUrl $Service.Certificate $Service.DeviceId
    if ($null -eq $listed.Ids) {
        $line = if ($listed.Failure -match '^(Unauthorized|Forbidden|ServiceUnavailable|Failed):') { $listed.Failure } else { 'Failed: ' + $listed.Failure }
        return New-RunOutcome @($line) 1 $false
    }
    $missing = @($Found.Protectors | Where-Object { -not $listed.Ids.ContainsKey($_.Id) })
    $unreadable = @($missing | Where-Object { -not $_.Readable })
    $missing = @($missing | Where-Object { $_.Readable })
    if ($unreadable.Count -gt 0) { $notes += "Skipped $($unreadable.Count) (volume locked or password unreadable)" }
    $plan = Get-RotationPlan $Found.Protectors $listed.Ids
    if ($plan.Skipped -gt 0) { $notes += "RotationSkipped $($plan.Skipped) (removable drive or locked volume)" }

    if ($missing.Count -eq 0 -and $plan.Due -eq 0) { return New-RunOutcome (@('UpToDate') + $notes) 0 $true }
    if ($Mode -eq 'Detect') {
        $parts = @()
        if ($missing.Count -gt 0) { $parts += "MissingKeys $($missing.Count)" }
        if ($plan.Due -gt 0) { $parts += "RotationDue $($plan.Due)" }
        return New-RunOutcome ($parts + $notes) 1 $true
    }

    $parts = @()
    $failed = $Found.VolumeErrors -gt 0
    if ($missing.Count -gt 0) {
        $escrowed = 0
        $failures = @()
        foreach ($item in $missing) {
            # The password goes from the protector into the request body and nowhere else.
            $json = [ordered]@{ id = $item.Id; deviceId = $Service.DeviceId; volumeType = $item.VolumeType; key = [string]$item.Protector.RecoveryPassword } | ConvertTo-Json -Compress
            $response = Invoke-DeviceRequest $Service 'PATCH' $script:CollectionPath $json
            if ($response.Status -eq 200 -or $response.Status -eq 201) { $escrowed++ } else { $failures += $response }
        }
        $parts += "Escrowed $escrowed"
        if ($failures.Count -gt 0) {
            $byStatus = ($failures | Group-Object -Property Status | ForEach-Object { "$($_.Name) x$($_.Count)" }) -join ', '
            $parts += "Failed $($failures.Count) ($byStatus): $(Get-FailureText $failures[0])"
            $failed = $true
        }
    }
    if ($plan.Due -gt 0) {
        $rotation = Invoke-Rotation $Service $plan $Found.Protectors
        $parts += $rotation.Parts
        if ($rotation.Failed) { $failed = $true }
    }
    return New-RunOutcome ($parts + $notes) $(if ($failed) { 1 } else { 0 }) $true
}

function Invoke-KeyEscrow([string]$ServiceUrl, [string]$Mode, $Http) {
    # The whole run; returns the result line and exit code (the entry point prints and exits).
    if ($Mode -ne 'Detect' -and $Mode -ne 'Remediate') { return New-Result 'Failed: Mode must be Detect or Remediate' 1 }
    if ($ServiceUrl -notmatch '^https://[^/?#]+(/[^?#]*)?$' -and $ServiceUrl -notmatch '^http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/[^?#]*)?$') {
        return New-Result 'Failed: ServiceUrl must be an https URL without a query' 1
    }
    if (Test-Wow64Process) { return New-Result 'Failed: 32-bit host; set "Run script in 64-bit PowerShell" to Yes' 1 }
    try {
        $certificate = Find-DeviceCertificate
        if ($null -eq $certificate) { return New-Result 'NotEntraJoined' 0 }
        $found = Get-RecoveryPasswordProtector
        if ($null -eq $Http) { $Http = New-HttpClient }
        $service = [pscustomobject]@{ Http = $Http; BaseUrl = $ServiceUrl; Certificate = $certificate; DeviceId = ([string](Get-DeviceId $certificate)).ToLowerInvariant() }

        $outcome = Invoke-EscrowStep $service $Mode $found
        $parts = $outcome.Parts
        # Every run that reached the service ends with the device's status; its failure is reported, not fatal.
        if ($outcome.ReportStatus) {
            $statusProblem = Send-DeviceStatus $service
            if ($statusProblem) { $parts += $statusProblem }
        }
        return New-Result ($parts -join '; ') $outcome.ExitCode
    } catch {
        $base = $_.Exception.GetBaseException()
        if ($base -is [System.InvalidOperationException] -and $base.Message -eq 'NoDeviceCertificate') { return New-Result 'Failed: NoDeviceCertificate' 1 }
        return New-Result "Failed: $(Get-ExceptionText $_)" 1
    }
}

function Invoke-Main([string]$ServiceUrl, [string]$Mode) {
    # One line on stdout (straight to it: Intune reads stdout), the same in the event log; the exit code.
    $result = Invoke-KeyEscrow -ServiceUrl $ServiceUrl -Mode $Mode
    [Console]::Out.WriteLine($result.Line)
    Write-EscrowEvent "$Mode $($result.Line)" $result.ExitCode
    return $result.ExitCode
}

# Run only when executed (Intune runs the file); dot-sourcing defines the functions and stops here.
if ($MyInvocation.InvocationName -ne '.') {
    exit (Invoke-Main -ServiceUrl $ServiceUrl -Mode $Mode)
}
