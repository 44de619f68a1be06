# What the Pester suites share: the stage (a real local host behind a fault-injecting proxy,
# scripts/cli/device/faultStage.ts), test device certificates made here and loaded from a file, and
# BitLocker volumes shaped as Get-BitLockerVolume returns them (learn.microsoft.com: BitLockerVolume,
# KeyProtector), for the seams the tests replace.

Set-StrictMode -Version 2.0

$script:RepoRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
$script:ScriptUnderTest = Join-Path $script:RepoRoot 'clients/windows/KeyEscrow.ps1'

function Start-Stage {
    $stageJs = Join-Path $script:RepoRoot 'dist/scripts/cli/device/faultStage.js'
    if (-not (Test-Path $stageJs)) { throw "$stageJs is missing: run npm run build first" }
    $node = if ($env:ESCROW_NODE) { $env:ESCROW_NODE } else { 'node' }
    $start = [System.Diagnostics.ProcessStartInfo]::new($node)
    $start.ArgumentList.Add($stageJs)
    $start.UseShellExecute = $false
    $start.RedirectStandardInput = $true
    $start.RedirectStandardOutput = $true
    $process = [System.Diagnostics.Process]::Start($start)
    $line = $process.StandardOutput.ReadLine()
    if (-not $line) { throw 'the stage did not start' }
    $ready = $line | ConvertFrom-Json
    return [pscustomobject]@{ Process = $process; Url = [string]$ready.url }
}

function Stop-Stage($Stage) {
    $Stage.Process.StandardInput.Close()
    if (-not $Stage.Process.WaitForExit(15000)) { $Stage.Process.Kill() }
}

function Set-StageFault($Stage, [object[]]$Faults) {
    $json = ConvertTo-Json -InputObject @($Faults) -Depth 5
    Invoke-RestMethod -Method Post -Uri "$($Stage.Url)/__stage/faults" -Body $json -ContentType 'application/json' | Out-Null
}

function Get-StageRequest($Stage) {
    # Invoke-RestMethod hands back a JSON array as one object: the pipeline takes it apart.
    return @((Invoke-RestMethod -Method Get -Uri "$($Stage.Url)/__stage/requests") | ForEach-Object { $_ })
}

function Clear-StageRequest($Stage) {
    Invoke-RestMethod -Method Delete -Uri "$($Stage.Url)/__stage/requests" | Out-Null
}

function Register-StageDevice($Stage, $Certificate) {
    $body = @{ certificateDerBase64 = [Convert]::ToBase64String($Certificate.RawData) } | ConvertTo-Json
    Invoke-RestMethod -Method Post -Uri "$($Stage.Url)/__stage/devices" -Body $body -ContentType 'application/json' | Out-Null
}

function New-TestDeviceCertificate([string]$Directory, [switch]$IssuedByOrganizationAccess) {
    # An RSA 2048 certificate with subject CN=<deviceId>, self-signed or issued by a test
    # "MS-Organization-Access" authority, written to a PFX file and loaded back from it.
    $deviceId = [guid]::NewGuid().ToString()
    $sha256 = [System.Security.Cryptography.HashAlgorithmName]::SHA256
    $pkcs1 = [System.Security.Cryptography.RSASignaturePadding]::Pkcs1
    $key = [System.Security.Cryptography.RSA]::Create(2048)
    $request = [System.Security.Cryptography.X509Certificates.CertificateRequest]::new("CN=$deviceId", $key, $sha256, $pkcs1)
    $from = [DateTimeOffset]::UtcNow.AddHours(-1)
    $to = [DateTimeOffset]::UtcNow.AddYears(1)
    if ($IssuedByOrganizationAccess) {
        $caKey = [System.Security.Cryptography.RSA]::Create(2048)
        $caRequest = [System.Security.Cryptography.X509Certificates.CertificateRequest]::new('CN=MS-Organization-Access, OU=TEST ONLY', $caKey, $sha256, $pkcs1)
        $caRequest.CertificateExtensions.Add([System.Security.Cryptography.X509Certificates.X509BasicConstraintsExtension]::new($true, $false, 0, $true))
        $authority = $caRequest.CreateSelfSigned($from.AddDays(-1), $to.AddDays(1))
        $serial = [byte[]](1..16 | ForEach-Object { Get-Random -Minimum 1 -Maximum 127 })
        $certificate = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::CopyWithPrivateKey($request.Create($authority, $from, $to, $serial), $key)
    } else {
        $certificate = $request.CreateSelfSigned($from, $to)
    }
    $path = Join-Path $Directory "$deviceId.pfx"
    [System.IO.File]::WriteAllBytes($path, $certificate.Export([System.Security.Cryptography.X509Certificates.X509ContentType]::Pfx, 'test-only'))
    return [System.Security.Cryptography.X509Certificates.X509Certificate2]::new($path, 'test-only', [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]::Exportable)
}

function New-RecoveryPassword {
    # 8 blocks of 6 digits, each a multiple of 11 below 720,896 (BitLocker's rule).
    return (1..8 | ForEach-Object { '{0:D6}' -f (11 * (Get-Random -Minimum 0 -Maximum 65536)) }) -join '-'
}

function New-Protector([string]$Type = 'RecoveryPassword', [string]$Password) {
    if ($Type -eq 'RecoveryPassword' -and -not $PSBoundParameters.ContainsKey('Password')) { $Password = New-RecoveryPassword }
    return [pscustomobject]@{
        KeyProtectorId      = '{' + [guid]::NewGuid().ToString().ToUpperInvariant() + '}'
        AutoUnlockProtector = $null
        KeyProtectorType    = $Type
        KeyFileName         = ''
        RecoveryPassword    = if ($Type -eq 'RecoveryPassword') { $Password } else { '' }
        KeyCertificateType  = ''
        Thumbprint          = ''
    }
}

function New-Volume([string]$MountPoint, [string]$VolumeType = 'Data', [object[]]$Protectors = @(), [string]$LockStatus = 'Unlocked') {
    return [pscustomobject]@{
        ComputerName         = 'TEST-DEVICE'
        MountPoint           = $MountPoint
        VolumeType           = $VolumeType
        VolumeStatus         = 'FullyEncrypted'
        ProtectionStatus     = 'On'
        LockStatus           = $LockStatus
        EncryptionPercentage = 100
        KeyProtector         = @($Protectors)
    }
}

function Get-ProtectorId($Protector) {
    return $Protector.KeyProtectorId.Trim('{', '}').ToLowerInvariant()
}

function Get-StageToken($Stage, [string[]]$Roles) {
    # A development token the stage's host accepts (AUTH_MODE local), for reading what the client stored.
    $body = @{ roles = @($Roles) } | ConvertTo-Json
    return (Invoke-RestMethod -Method Post -Uri "$($Stage.Url)/__stage/token" -Body $body -ContentType 'application/json').token
}

function Invoke-StageApi($Stage, [string]$Method, [string]$Path, [string]$Token, [hashtable]$Headers = @{}) {
    # One call to the host as a Graph client would make it; the status and the parsed body, whatever the status.
    $all = @{ Authorization = "Bearer $Token" } + $Headers
    $response = Invoke-WebRequest -Method $Method -Uri "$($Stage.Url)$Path" -Headers $all -SkipHttpErrorCheck
    $json = if ($response.Content) { [string]$response.Content | ConvertFrom-Json -DateKind String } else { $null }
    return [pscustomobject]@{ Status = [int]$response.StatusCode; Json = $json }
}

function Start-Suite([string]$Name) {
    # A suite's BeforeAll, after dot-sourcing this file and the script: the stage, a work folder, the events.
    $script:Stage = Start-Stage
    $script:Work = (New-Item -ItemType Directory -Path (Join-Path ([System.IO.Path]::GetTempPath()) ("$Name-" + [guid]::NewGuid()))).FullName
    $script:Events = [System.Collections.Generic.List[string]]::new()
}

function Stop-Suite {
    Stop-Stage $Stage
    Remove-Item -Recurse -Force $Work -ErrorAction SilentlyContinue
}

function Reset-Suite {
    # A suite's BeforeEach: no faults queued, no requests seen, no events; the event log and the bitness mocked.
    Set-StageFault $Stage @()
    Clear-StageRequest $Stage
    $Events.Clear()
    Mock Write-EscrowEvent { $Events.Add($Line) }
    Mock Test-Wow64Process { $false }
}

# What every suite does with the stage, as one helper each. They call Mock: call them from a test or a
# BeforeEach. They use $Stage, $Work and $Events of the suite that dot-sources this file.

function Use-Device([switch]$Unregistered, [switch]$IssuedByOrganizationAccess, [string]$JoinInfo = 'thumbprint') {
    # A joined device whose certificate is in LocalMachine\My and named by JoinInfo.
    $certificate = New-TestDeviceCertificate $Work -IssuedByOrganizationAccess:$IssuedByOrganizationAccess
    if (-not $Unregistered) { Register-StageDevice $Stage $certificate }
    $subkey = switch ($JoinInfo) { 'thumbprint' { $certificate.Thumbprint } 'deviceId' { Get-DeviceId $certificate } default { $null } }
    $script:CurrentCertificate = $certificate
    $script:CurrentSubkeys = @($subkey | Where-Object { $_ })
    Mock Get-JoinInfoSubkeyName { $script:CurrentSubkeys }
    Mock Get-MachineCertificate { @($script:CurrentCertificate) }
    return $certificate
}

function Use-Volumes([object[]]$Volumes, [hashtable]$Types = @{}, [int]$Errors = 0) {
    $script:CurrentVolumes = [pscustomobject]@{ Volumes = @($Volumes); ErrorCount = $Errors }
    $script:CurrentTypes = $Types
    Mock Get-BitLockerVolumeSet { $script:CurrentVolumes }
    Mock Get-EncryptableVolumeType { $script:CurrentTypes }
}

function Invoke-Run([string]$Mode, [string]$Url = $Stage.Url) {
    return Invoke-KeyEscrow -ServiceUrl $Url -Mode $Mode
}

function Assert-Run([string]$Mode, [string]$Line, [int]$ExitCode) {
    # One run, its line and exit code as expected.
    $result = Invoke-Run $Mode
    $result.Line | Should -BeExactly $Line
    $result.ExitCode | Should -Be $ExitCode
}

function Get-ListedKeys($Certificate) {
    # The device's keys as the service lists them to the device itself.
    $http = New-HttpClient
    $response = Invoke-Service $http $Stage.Url $Certificate 'GET' (Get-ListPath (Get-DeviceId $Certificate)) $null
    $response.Status | Should -Be 200
    return @(($response.Text | ConvertFrom-Json).value)
}

function Assert-OneLine($Result) {
    $Result.Line | Should -Not -Match "[`r`n]"
    $Result.Line.Length | Should -BeLessOrEqual 2048
    $Result.Line.Length | Should -BeGreaterThan 0
}
