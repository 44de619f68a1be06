# clients/windows/KeyEscrow.ps1 run for real against a real local host (the stage: the compiled app
# with DEVICE_AUTH=local on Azurite, behind a fault-injecting proxy). Only the seams that reach what
# only Windows has are mocked: the JoinInfo registry key, the LocalMachine\My store, BitLocker's
# volumes, Win32_EncryptableVolume, the event log and the host's bitness. Everything else runs: the
# canonical string, RSA signing with a test certificate loaded from a file, HttpClient, retries,
# the result line and the exit code.

Describe 'KeyEscrow.ps1' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'TestSupport.ps1')
        . $ScriptUnderTest
        Start-Suite 'keyescrow'
        $script:Vectors = Get-Content (Join-Path $RepoRoot 'test/vectors/device-proof.json') -Raw | ConvertFrom-Json -DateKind String
    }

    AfterAll { Stop-Suite }

    BeforeEach { Reset-Suite }

    Describe 'A1: the request line and the signature, byte for byte' {
        It 'writes the list query out as the vector pins it, whatever case the deviceId comes in' {
            $vector = $Vectors.accepted[0]
            Get-ListPath '3F2504E0-4F89-41D3-9A0C-0305E82C3301' | Should -BeExactly $vector.pathAndQuery
        }

        It 'signs every accepted vector exactly as pinned, the raw-quote one included' {
            foreach ($vector in $Vectors.accepted) {
                $device = $Vectors.devices.($vector.device)
                $pem = "-----BEGIN CERTIFICATE-----`n$($device.certificateDerBase64)`n-----END CERTIFICATE-----"
                $certificate = [System.Security.Cryptography.X509Certificates.X509Certificate2]::CreateFromPem($pem, $device.privateKeyPemTestOnly)
                $body = [System.Text.Encoding]::UTF8.GetBytes($vector.body)
                New-CanonicalString $vector.method $vector.pathAndQuery $vector.ts $vector.nonce $body | Should -BeExactly $vector.canonical
                New-DeviceAuthorization $certificate $vector.method $vector.pathAndQuery $body $vector.ts $vector.nonce | Should -BeExactly $vector.authorization
            }
        }

        It 'brings every path and query of test/vectors/canonical-path.json to its canonical form' {
            $cases = (Get-Content (Join-Path $RepoRoot 'test/vectors/canonical-path.json') -Raw | ConvertFrom-Json).cases
            foreach ($case in $cases) {
                ConvertTo-CanonicalTarget $case.sent | Should -BeExactly $case.canonical -Because $case.why
            }
        }

        It 'the service accepts the list whether the quotes go raw (Windows PowerShell 5.1) or as %27' {
            $certificate = Use-Device
            $http = New-HttpClient
            $raw = Invoke-Service $http $Stage.Url $certificate 'GET' ($CollectionPath + "?`$filter=deviceId%20eq%20'" + (Get-DeviceId $certificate) + "'") $null
            $raw.Status | Should -Be 200 -Because $raw.Text
            $escaped = Invoke-Service $http $Stage.Url $certificate 'GET' (Get-ListPath (Get-DeviceId $certificate)) $null
            $escaped.Status | Should -Be 200 -Because $escaped.Text
        }
    }

    Describe 'Detect and Remediate against the host' {
        It 'detect exits 1 while keys are missing, remediate escrows them, detect then exits 0' {
            $certificate = Use-Device
            $os = New-Protector; $data = New-Protector; $tpm = New-Protector -Type 'Tpm'
            Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @($tpm, $os)), (New-Volume 'D:' 'Data' @($data))) @{ 'C:' = 0; 'D:' = 1 }

            Assert-Run 'Detect' 'MissingKeys 2' 1
            Assert-Run 'Remediate' 'Escrowed 2' 0
            Assert-Run 'Detect' 'UpToDate' 0
            @(Get-ListedKeys $certificate).id | Sort-Object | Should -Be (@((Get-ProtectorId $os), (Get-ProtectorId $data)) | Sort-Object)
        }

        It 'A7: labels each volume with BitLocker''s own type: OS, fixed, a USB disk and a volume mounted on a folder' {
            $certificate = Use-Device
            $os = New-Protector; $fixed = New-Protector; $usb = New-Protector; $folder = New-Protector
            $folderVolume = '\\?\Volume{5f1c4e0a-1b2c-4d3e-8f90-a1b2c3d4e5f6}\'
            Use-Volumes @(
                (New-Volume 'C:' 'OperatingSystem' @($os)),
                (New-Volume 'D:' 'Data' @($fixed)),
                (New-Volume 'E:' 'Data' @($usb)),
                (New-Volume $folderVolume 'Data' @($folder))
            ) @{ 'C:' = 0; 'D:' = 1; 'E:' = 2; $folderVolume = 2 }
            (Invoke-Run 'Remediate').Line | Should -BeExactly 'Escrowed 4'
            $types = @{}
            foreach ($key in Get-ListedKeys $certificate) { $types[$key.id] = $key.volumeType }
            $types[(Get-ProtectorId $os)] | Should -Be 'operatingSystemVolume'
            $types[(Get-ProtectorId $fixed)] | Should -Be 'fixedDataVolume'
            $types[(Get-ProtectorId $usb)] | Should -Be 'removableDataVolume'
            $types[(Get-ProtectorId $folder)] | Should -Be 'removableDataVolume'
        }

        It 'A7: without Win32_EncryptableVolume the type falls back to Get-BitLockerVolume''s OperatingSystem/Data' {
            $certificate = Use-Device
            $os = New-Protector; $data = New-Protector
            Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @($os)), (New-Volume 'F:' 'Data' @($data))) @{}
            (Invoke-Run 'Remediate').Line | Should -BeExactly 'Escrowed 2'
            $types = @{}
            foreach ($key in Get-ListedKeys $certificate) { $types[$key.id] = $key.volumeType }
            $types[(Get-ProtectorId $os)] | Should -Be 'operatingSystemVolume'
            $types[(Get-ProtectorId $data)] | Should -Be 'fixedDataVolume'
        }

        It 'A4: a service URL with a path, behind a proxy that strips it (PUBLIC_BASE_URL has the path)' {
            $certificate = Use-Device
            Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @(New-Protector))) @{ 'C:' = 0 }
            (Invoke-Run 'Remediate' "$($Stage.Url)/escrow/").Line | Should -BeExactly 'Escrowed 1'
            (Invoke-Run 'Detect' "$($Stage.Url)/escrow").Line | Should -BeExactly 'UpToDate'
            $paths = @(Get-StageRequest $Stage | ForEach-Object { $_.path })
            $paths.Count | Should -Be 5
            $paths | ForEach-Object { $_ | Should -Match '^/escrow/v1\.0/informationProtection/bitlocker/(recoveryKeys|deviceStatuses/)' }
        }

        It 'A10: finds a Cloud PC''s certificate, whose JoinInfo subkey is the deviceId' {
            Use-Device -JoinInfo 'deviceId' | Out-Null
            Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @(New-Protector))) @{ 'C:' = 0 }
            (Invoke-Run 'Detect').Line | Should -BeExactly 'MissingKeys 1'
        }

        It 'finds an MS-Organization-Access certificate without JoinInfo' {
            Use-Device -IssuedByOrganizationAccess -JoinInfo 'none' | Out-Null
            Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @(New-Protector))) @{ 'C:' = 0 }
            (Invoke-Run 'Detect').Line | Should -BeExactly 'MissingKeys 1'
        }
    }

    Describe 'A3: 429 and 503 are waited out and retried, re-signed' {
        It 'waits the Retry-After seconds of a 429, then lists' {
            Use-Device | Out-Null
            Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @(New-Protector))) @{ 'C:' = 0 }
            Set-StageFault $Stage @(@{ method = 'GET'; status = 429; headers = @{ 'Retry-After' = '1'; 'Content-Type' = 'application/json' }; body = '{"error":{"code":"TooManyRequests","message":"slow down"}}' })
            (Invoke-Run 'Detect').Line | Should -BeExactly 'MissingKeys 1'
            $seen = @(Get-StageRequest $Stage | Where-Object { $_.method -eq 'GET' })
            $seen.Count | Should -Be 2
            ($seen[1].at - $seen[0].at) | Should -BeGreaterOrEqual 950
        }

        It 'waits until the HTTP date of a 503''s Retry-After, then escrows' {
            Use-Device | Out-Null
            Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @(New-Protector))) @{ 'C:' = 0 }
            $date = [DateTimeOffset]::UtcNow.AddSeconds(2).ToString('r', [System.Globalization.CultureInfo]::InvariantCulture)
            Set-StageFault $Stage @(@{ method = 'PATCH'; status = 503; headers = @{ 'Retry-After' = $date; 'Content-Type' = 'application/json' }; body = '{"error":{"code":"serviceNotAvailable","message":"try later"}}' })
            (Invoke-Run 'Remediate').Line | Should -BeExactly 'Escrowed 1'
            $patches = @(Get-StageRequest $Stage | Where-Object { $_.method -eq 'PATCH' })
            $patches.Count | Should -Be 2
            ($patches[1].at - $patches[0].at) | Should -BeGreaterOrEqual 950
        }

        It 'reads Retry-After under Set-StrictMode 2.0 (no .Value on a Nullable)' {
            Set-StrictMode -Version 2.0
            $response = [System.Net.Http.HttpResponseMessage]::new(429)
            $response.Headers.RetryAfter = [System.Net.Http.Headers.RetryConditionHeaderValue]::new([TimeSpan]::FromSeconds(7))
            Get-RetryAfterSeconds $response | Should -Be 7
            $response.Headers.RetryAfter = [System.Net.Http.Headers.RetryConditionHeaderValue]::new([DateTimeOffset]::UtcNow.AddSeconds(30))
            Get-RetryAfterSeconds $response | Should -BeIn (29..31)
        }

        It 'gives up with one line when the service keeps answering 503, or asks for more than 60 seconds' {
            Use-Device | Out-Null
            Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @(New-Protector))) @{ 'C:' = 0 }
            Set-StageFault $Stage @(@{ method = 'GET'; status = 503; times = 5; headers = @{ 'Retry-After' = '120'; 'Content-Type' = 'application/json' }; body = '{"error":{"code":"serviceNotAvailable","message":"Graph is unavailable"}}' })
            $result = Invoke-Run 'Detect'
            $result.Line | Should -BeExactly 'ServiceUnavailable: Graph is unavailable'
            $result.ExitCode | Should -Be 1
            @(Get-StageRequest $Stage).Count | Should -Be 1
        }
    }

    Describe 'A6: one bad key or volume does not end the run' {
        It 'reports 401, 403 and 409 on single keys, escrows the rest and counts the failures' {
            $certificate = Use-Device
            $good = New-Protector; $deleted = New-Protector; $foreign = New-Protector; $refused = New-Protector
            Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @($deleted, $good)), (New-Volume 'D:' 'Data' @($foreign, $refused))) @{ 'C:' = 0; 'D:' = 1 }
            Set-StageFault $Stage @(
                @{ method = 'PATCH'; bodyIncludes = (Get-ProtectorId $deleted); status = 409; headers = @{ 'Content-Type' = 'application/json' }; body = '{"error":{"code":"conflict","message":"This key was deleted."}}' },
                @{ method = 'PATCH'; bodyIncludes = (Get-ProtectorId $foreign); status = 403; headers = @{ 'Content-Type' = 'application/json' }; body = '{"error":{"code":"accessDenied","message":"The key belongs to another device."}}' },
                @{ method = 'PATCH'; bodyIncludes = (Get-ProtectorId $refused); status = 401; headers = @{ 'Content-Type' = 'application/json' }; body = '{"error":{"code":"InvalidAuthenticationToken","message":"nonce"}}' }
            )
            $result = Invoke-Run 'Remediate'
            $result.Line | Should -BeExactly 'Escrowed 1; Failed 3 (401 x1, 403 x1, 409 x1): Conflict: This key was deleted.'
            $result.ExitCode | Should -Be 1
            Assert-OneLine $result
            @(Get-ListedKeys $certificate).id | Should -Be @(Get-ProtectorId $good)
            (Invoke-Run 'Detect').Line | Should -BeExactly 'MissingKeys 3'
        }

        It 'skips a locked volume and an empty protector, escrows the readable key, and detection is then satisfied' {
            $certificate = Use-Device
            $good = New-Protector
            Use-Volumes @(
                (New-Volume 'C:' 'OperatingSystem' @($good)),
                (New-Volume 'D:' 'Data' @(New-Protector -Password '') ),
                (New-Volume 'E:' 'Data' @(New-Protector) 'Locked')
            ) @{ 'C:' = 0; 'D:' = 1; 'E:' = 2 }
            $skipped = 'Skipped 2 (volume locked or password unreadable)'
            Assert-Run 'Detect' "MissingKeys 1; $skipped" 1
            Assert-Run 'Remediate' "Escrowed 1; $skipped" 0
            Assert-Run 'Detect' "UpToDate; $skipped" 0
            @(Get-ListedKeys $certificate).id | Should -Be @(Get-ProtectorId $good)
        }

        It 'escrows what it can read when BitLocker fails on another volume, and reports the volume' {
            Use-Device | Out-Null
            Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @(New-Protector))) @{ 'C:' = 0 } 1
            $result = Invoke-Run 'Remediate'
            $result.Line | Should -BeExactly 'Escrowed 1; VolumeErrors 1; StatusSkipped: a volume could not be read'
            $result.ExitCode | Should -Be 1
        }
    }

    Describe 'the device status: every run that reached the service ends with PUT deviceStatuses' {
        BeforeAll {
            function Get-StoredStatus($Certificate) {
                # The status as a reader (BitLockerKey.ReadBasic.All) gets it back.
                $token = Get-StageToken $Stage @('BitLockerKey.ReadBasic.All')
                return Invoke-StageApi $Stage 'GET' "/v1.0/informationProtection/bitlocker/deviceStatuses/$(Get-DeviceId $Certificate)" $token
            }

            function Assert-NoStoredStatus($Certificate) {
                # A device that never reported answers 200 with its names and no report: no time, no volumes.
                $stored = Get-StoredStatus $Certificate
                $stored.Status | Should -Be 200
                $stored.Json.PSObject.Properties.Name | Should -Not -Contain 'lastReportedDateTime'
                @($stored.Json.volumes).Count | Should -Be 0
            }

            function Assert-StoredVolumes($Certificate, [object[]]$Expected) {
                $stored = Get-StoredStatus $Certificate
                $stored.Status | Should -Be 200
                $stored.Json.deviceId | Should -Be (Get-DeviceId $Certificate)
                $stored.Json.clientVersion | Should -BeExactly 'KeyEscrow.ps1/3'
                $stored.Json.lastReportedDateTime | Should -Match '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$'
                ConvertTo-Json -InputObject @($stored.Json.volumes) -Depth 5 -Compress | Should -BeExactly (ConvertTo-Json -InputObject @($Expected) -Depth 5 -Compress)
            }
        }

        It 'reports each volume as BitLocker shows it: type, on, suspended, off, locked, the recovery password ids and the other protectors' {
            $certificate = Use-Device
            $os = New-Protector; $data = New-Protector; $usb = New-Protector
            $suspended = New-Volume 'D:' 'Data' @($data)
            $suspended.ProtectionStatus = 'Off'
            $decrypted = New-Volume 'F:' 'Data' @()
            $decrypted.ProtectionStatus = 'Off'; $decrypted.VolumeStatus = 'FullyDecrypted'; $decrypted.EncryptionPercentage = 0
            $locked = New-Volume 'E:' 'Data' @($usb) 'Locked'
            $locked.ProtectionStatus = 'Unknown'; $locked.EncryptionPercentage = [single]37.26
            Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @((New-Protector -Type 'TpmPin'), $os, (New-Protector -Type 'Tpm'))), $suspended, $locked, $decrypted) @{ 'C:' = 0; 'D:' = 1; 'E:' = 2; 'F:' = 1 }

            Assert-Run 'Detect' 'MissingKeys 2; Skipped 1 (volume locked or password unreadable)' 1
            Assert-StoredVolumes $certificate @(
                [ordered]@{ volumeType = 'operatingSystemVolume'; protectionStatus = 'on'; recoveryPasswordIds = @(Get-ProtectorId $os); mountPoint = 'C:'; encryptionPercentage = 100; keyProtectorTypes = @('tpm', 'tpmPin') }
                [ordered]@{ volumeType = 'fixedDataVolume'; protectionStatus = 'suspended'; recoveryPasswordIds = @(Get-ProtectorId $data); mountPoint = 'D:'; encryptionPercentage = 100; keyProtectorTypes = @() }
                [ordered]@{ volumeType = 'removableDataVolume'; protectionStatus = 'on'; recoveryPasswordIds = @(Get-ProtectorId $usb); mountPoint = 'E:'; encryptionPercentage = 37.3; keyProtectorTypes = @() }
                [ordered]@{ volumeType = 'fixedDataVolume'; protectionStatus = 'off'; recoveryPasswordIds = @(); mountPoint = 'F:'; encryptionPercentage = 0; keyProtectorTypes = @() }
            )
            $put = @(Get-StageRequest $Stage | Where-Object { $_.method -eq 'PUT' })
            $put.Count | Should -Be 1
            $put[0].path | Should -BeExactly "/v1.0/informationProtection/bitlocker/deviceStatuses/$(Get-DeviceId $certificate)"
        }

        It 'remediate reports after its escrow, so the status names keys the service holds; the line stays the escrow''s' {
            $certificate = Use-Device
            $os = New-Protector
            Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @($os))) @{ 'C:' = 0 }
            Assert-Run 'Remediate' 'Escrowed 1' 0
            @(Get-StageRequest $Stage | ForEach-Object { $_.method }) | Should -Be @('GET', 'PATCH', 'PUT')
            (Get-StoredStatus $certificate).Json.volumes[0].recoveryPasswordIds | Should -Be @(Get-ProtectorId $os)
        }

        It 'a device with no recovery password (TPM only) still reports, so coverage sees an encrypted disk without a key' {
            $certificate = Use-Device
            Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @(New-Protector -Type 'Tpm'))) @{ 'C:' = 0 }
            Assert-Run 'Detect' 'NoRecoveryPasswords' 0
            Assert-StoredVolumes $certificate @([ordered]@{ volumeType = 'operatingSystemVolume'; protectionStatus = 'on'; recoveryPasswordIds = @(); mountPoint = 'C:'; encryptionPercentage = 100; keyProtectorTypes = @('tpm') })
        }

        It 'a refused status fails neither the escrow nor its exit code, and the line says so: <name>' -ForEach @(
            @{ name = 'a Graph error'; fault = @{ method = 'PUT'; status = 400; headers = @{ 'Content-Type' = 'application/json' }; body = '{"error":{"code":"badRequest","message":"volumes[0].mountPoint must be printable ASCII"}}' }; note = 'StatusFailed: BadRequest: volumes[0].mountPoint must be printable ASCII' }
            @{ name = 'an HTML page'; fault = @{ method = 'PUT'; status = 500; headers = @{ 'Content-Type' = 'text/html' }; body = '<html>oops</html>' }; note = 'StatusFailed: HTTP 500: the answer is not the escrow service''s (text/html)' }
            @{ name = 'a 503 that outlasts the retries'; fault = @{ method = 'PUT'; status = 503; times = 3; headers = @{ 'Retry-After' = '120'; 'Content-Type' = 'application/json' }; body = '{"error":{"code":"serviceNotAvailable","message":"try later"}}' }; note = 'StatusFailed: ServiceUnavailable: try later' }
        ) {
            $certificate = Use-Device
            $os = New-Protector
            Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @($os))) @{ 'C:' = 0 }
            Set-StageFault $Stage @($fault)
            $result = Invoke-Run 'Remediate'
            $result.Line | Should -BeExactly "Escrowed 1; $note"
            $result.ExitCode | Should -Be 0
            Assert-OneLine $result
            @(Get-ListedKeys $certificate).id | Should -Be @(Get-ProtectorId $os)
            Assert-NoStoredStatus $certificate
            Set-StageFault $Stage @(@{ method = 'PUT'; status = 403; headers = @{ 'Content-Type' = 'application/json' }; body = '{"error":{"code":"accessDenied","message":"no"}}' })
            Assert-Run 'Detect' 'UpToDate; StatusFailed: Forbidden: no' 0
        }

        It 'a connection dropped on the status is named by its exception, and the escrow still counts' {
            $certificate = Use-Device
            Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @(New-Protector))) @{ 'C:' = 0 }
            Set-StageFault $Stage @(@{ method = 'PUT'; status = 0; drop = $true })
            $result = Invoke-Run 'Remediate'
            $result.Line | Should -Match '^Escrowed 1; StatusFailed: (HttpRequestException|HttpIOException|IOException|SocketException) \(0x[0-9A-F]{8}\)$'
            $result.ExitCode | Should -Be 0
            @(Get-ListedKeys $certificate).Count | Should -Be 1
        }

        It 'no status when BitLocker could not read a volume: a partial one would make its keys look stale' {
            $certificate = Use-Device
            Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @(New-Protector))) @{ 'C:' = 0 } 1
            $result = Invoke-Run 'Remediate'
            $result.Line | Should -BeExactly 'Escrowed 1; VolumeErrors 1; StatusSkipped: a volume could not be read'
            $result.ExitCode | Should -Be 1
            @(Get-StageRequest $Stage | Where-Object { $_.method -eq 'PUT' }).Count | Should -Be 0
            Assert-NoStoredStatus $certificate
        }

        It 'a refused list sends no status (the run already failed, and the service is not answering this device)' {
            Use-Device | Out-Null
            Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @(New-Protector))) @{ 'C:' = 0 }
            Set-StageFault $Stage @(@{ method = 'GET'; status = 401; headers = @{ 'Content-Type' = 'application/json' }; body = '{"error":{"code":"InvalidAuthenticationToken","message":"unknown device"}}' })
            Assert-Run 'Detect' 'Unauthorized: unknown device' 1
            @(Get-StageRequest $Stage).Count | Should -Be 1
        }
    }

    Describe 'A8: what the device is tells the word and the exit code' {
        It 'a device that is not joined exits 0 with NotEntraJoined and calls nobody' {
            Mock Get-JoinInfoSubkeyName { @() }
            Mock Get-MachineCertificate { @() }
            Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @(New-Protector))) @{ 'C:' = 0 }
            $result = Invoke-Run 'Detect'
            $result.Line | Should -BeExactly 'NotEntraJoined'
            $result.ExitCode | Should -Be 0
            @(Get-StageRequest $Stage).Count | Should -Be 0
        }

        It 'a joined device whose certificate is gone fails with NoDeviceCertificate' {
            Mock Get-JoinInfoSubkeyName { @('0123456789ABCDEF0123456789ABCDEF01234567') }
            Mock Get-MachineCertificate { @() }
            $result = Invoke-Run 'Detect'
            $result.Line | Should -BeExactly 'Failed: NoDeviceCertificate'
            $result.ExitCode | Should -Be 1
        }

        It 'volumes with no RecoveryPassword protector (TPM only) exit 0 with NoRecoveryPasswords; no volume at all with NoBitLockerVolumes' {
            Use-Device | Out-Null
            Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @(New-Protector -Type 'Tpm')))
            (Invoke-Run 'Detect') | Should -Match 'NoRecoveryPasswords'
            (Invoke-Run 'Detect').ExitCode | Should -Be 0
            Use-Volumes @()
            (Invoke-Run 'Detect').Line | Should -BeExactly 'NoBitLockerVolumes'
        }

        It 'a 32-bit host on 64-bit Windows fails with a line that says which Intune setting to change' {
            Mock Test-Wow64Process { $true }
            $result = Invoke-Run 'Detect'
            $result.Line | Should -BeExactly 'Failed: 32-bit host; set "Run script in 64-bit PowerShell" to Yes'
            $result.ExitCode | Should -Be 1
        }
    }

    Describe 'A2 and A5: transport' {
        It 'A2: ORs TLS 1.2 into ServicePointManager.SecurityProtocol, keeping what was there' {
            $before = [Net.ServicePointManager]::SecurityProtocol
            try {
                [Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls13
                New-HttpClient | Out-Null
                [Net.ServicePointManager]::SecurityProtocol | Should -Be ([Net.SecurityProtocolType]::Tls13 -bor [Net.SecurityProtocolType]::Tls12)
            } finally {
                [Net.ServicePointManager]::SecurityProtocol = $before
            }
        }

        It 'A5: a connection failure names the innermost exception, not MethodInvocationException' {
            Use-Device | Out-Null
            Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @(New-Protector))) @{ 'C:' = 0 }
            $closed = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
            $closed.Start(); $port = $closed.LocalEndpoint.Port; $closed.Stop()
            $result = Invoke-Run 'Detect' "http://127.0.0.1:$port"
            $result.Line | Should -Match '^Failed: (SocketException|HttpRequestException) \(0x[0-9A-F]{8}\)$'
            $result.ExitCode | Should -Be 1
        }
    }

    Describe 'a hostile or broken service gives one clear line and exit 1' {
        BeforeEach {
            Use-Device | Out-Null
            Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @(New-Protector))) @{ 'C:' = 0 }
        }

        It '<name>' -ForEach @(
            @{ name = 'an HTML error page'; fault = @{ status = 500; headers = @{ 'Content-Type' = 'text/html' }; body = '<html><body><h1>Server Error</h1></body></html>' }; line = 'Failed: HTTP 500: the answer is not the escrow service''s (text/html)' }
            @{ name = 'an HTML page with 200'; fault = @{ status = 200; headers = @{ 'Content-Type' = 'text/html' }; body = '<html>Welcome</html>' }; line = 'Failed: HTTP 200: the answer is not the escrow service''s (text/html)' }
            @{ name = 'a redirect to a sign-in page'; fault = @{ status = 302; headers = @{ Location = 'https://login.microsoftonline.com/common/oauth2/authorize?client_id=x' }; body = '' }; line = 'Failed: Redirected (302) to login.microsoftonline.com; is ServiceUrl the escrow service?' }
            @{ name = 'a huge body'; fault = @{ status = 200; headers = @{ 'Content-Type' = 'application/json' }; body = ('x' * 1024); repeat = 3072 }; line = 'Failed: HTTP 200: the answer is larger than 1048576 bytes; is ServiceUrl the escrow service?' }
            @{ name = 'a body that is not JSON'; fault = @{ status = 200; headers = @{ 'Content-Type' = 'application/json' }; body = 'value: [' }; line = 'Failed: HTTP 200: the answer is not the escrow service''s (application/json)' }
            @{ name = 'JSON that is not a collection'; fault = @{ status = 200; headers = @{ 'Content-Type' = 'application/json' }; body = '{"hello":"world"}' }; line = 'Failed: HTTP 200: the answer is not the escrow service''s (application/json)' }
        ) {
            Set-StageFault $Stage @($fault)
            $result = Invoke-Run 'Detect'
            $result.Line | Should -BeExactly $line
            $result.ExitCode | Should -Be 1
            Assert-OneLine $result
        }

        It 'a next page link that leaves ServiceUrl is not followed' {
            Set-StageFault $Stage @(@{ method = 'GET'; status = 200; headers = @{ 'Content-Type' = 'application/json' }; body = '{"value":[],"@odata.nextLink":"https://evil.example/v1.0/informationProtection/bitlocker/recoveryKeys?x=1"}' })
            $result = Invoke-Run 'Detect'
            $result.Line | Should -BeExactly 'Failed: the next page link leaves ServiceUrl'
            @(Get-StageRequest $Stage).Count | Should -Be 1
        }

        It 'a next page link back to a page already read ends the run after that one request' {
            $self = $Stage.Url.TrimEnd('/') + (Get-ListPath (Get-DeviceId $script:CurrentCertificate))
            Set-StageFault $Stage @(@{ method = 'GET'; status = 200; headers = @{ 'Content-Type' = 'application/json' }; body = (@{ value = @(); '@odata.nextLink' = $self } | ConvertTo-Json -Compress) })
            $result = Invoke-Run 'Detect'
            $result.Line | Should -BeExactly "Failed: the service's next page links go round or past 20 pages"
            $result.ExitCode | Should -Be 1
            @(Get-StageRequest $Stage).Count | Should -Be 1
        }

        It 'entries without a string id are not keys: no PropertyNotFoundException under StrictMode' {
            Set-StageFault $Stage @(@{ method = 'GET'; status = 200; headers = @{ 'Content-Type' = 'application/json' }; body = '{"value":["x",5,null,{"id":7}]}' })
            $result = Invoke-Run 'Detect'
            $result.Line | Should -Not -Match 'Exception'
            $result.ExitCode | Should -Be 1
            Assert-OneLine $result
        }

        It 'a message that echoes a password in any spelling, or carries line or bidi controls, is masked: <name>' -ForEach @(
            @{ name = 'no separators'; text = '496298461032321464595518463221173943033616139579' }
            @{ name = 'spaced dashes'; text = '496298 - 461032 - 321464 - 595518 - 463221 - 173943 - 033616 - 139579' }
            @{ name = 'line separators'; text = ('496298-461032-321464-595518-463221-173943-033616-139579' -replace '-', [string][char]0x2028) }
            @{ name = 'six groups'; text = '496298-461032-321464-595518-463221-173943' }
        ) {
            $body = @{ error = @{ code = 'badRequest'; message = "bad key $text ok$([char]0x2028)UpToDate$([char]0x202E)evil" } } | ConvertTo-Json -Compress
            Set-StageFault $Stage @(@{ method = 'PATCH'; status = 400; times = 1; headers = @{ 'Content-Type' = 'application/json; charset=utf-8' }; body = $body })
            $result = Invoke-Run 'Remediate'
            Assert-OneLine $result
            $result.Line | Should -Match 'BadRequest: bad key <recovery password> ok UpToDate evil'
            $result.Line | Should -Not -Match '\d{6}'
            $result.Line | Should -Not -Match '[^\x20-\x7e]'
        }

        It 'a very long error message still makes one line of at most 2,048 characters' {
            Set-StageFault $Stage @(@{ method = 'PATCH'; status = 409; times = 1; headers = @{ 'Content-Type' = 'application/json' }; body = (@{ error = @{ code = 'conflict'; message = ("line`r`nbreak " * 2000) } } | ConvertTo-Json -Compress) })
            $result = Invoke-Run 'Remediate'
            Assert-OneLine $result
            $result.Line | Should -Match '^Escrowed 0; Failed 1 \(409 x1\): Conflict: line break line break'
        }
    }

    Describe 'no recovery password leaves the device but in the request body' {
        It 'stdout, the event log and a transcript hold none, even when the service echoes one back' {
            $certificate = Use-Device
            $first = New-Protector; $second = New-Protector
            Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @($first)), (New-Volume 'D:' 'Data' @($second))) @{ 'C:' = 0; 'D:' = 1 }
            $echo = @{ error = @{ code = 'badRequest'; message = "key $($second.RecoveryPassword) is not valid" } } | ConvertTo-Json -Compress
            Set-StageFault $Stage @(@{ method = 'PATCH'; bodyIncludes = (Get-ProtectorId $second); status = 400; headers = @{ 'Content-Type' = 'application/json' }; body = $echo })
            $transcript = Join-Path $Work 'transcript.txt'
            $stdout = [System.IO.StringWriter]::new()
            $original = [Console]::Out
            Start-Transcript -Path $transcript | Out-Null
            try {
                [Console]::SetOut($stdout)
                $exitCode = Invoke-Main -ServiceUrl $Stage.Url -Mode 'Remediate'
            } finally {
                [Console]::SetOut($original)
                Stop-Transcript | Out-Null
            }
            $printed = $stdout.ToString()
            $printed | Should -BeExactly "Escrowed 1; Failed 1 (400 x1): BadRequest: key <recovery password> is not valid$([Environment]::NewLine)"
            $exitCode | Should -Be 1
            $Events | Should -Be @('Remediate Escrowed 1; Failed 1 (400 x1): BadRequest: key <recovery password> is not valid')
            $everything = $printed + ($Events -join "`n") + (Get-Content $transcript -Raw)
            foreach ($password in @($first.RecoveryPassword, $second.RecoveryPassword)) {
                $everything | Should -Not -Match ([regex]::Escape($password))
            }
            @(Get-ListedKeys $certificate).id | Should -Be @(Get-ProtectorId $first)
        }
    }

    Describe 'the entry point' {
        It 'dot-sourcing defines the functions and runs nothing; running the file prints one line and exits with its code' {
            $rendered = Join-Path $Work 'Detect-KeyEscrow.ps1'
            (Get-Content $ScriptUnderTest -Raw).Replace("'__SERVICE_URL__'", "'http://127.0.0.1:1'").Replace("'__MODE__'", "'Bogus'") | Set-Content -Path $rendered -NoNewline
            $pwsh = if ($env:ESCROW_PWSH) { $env:ESCROW_PWSH } else { Join-Path $RepoRoot '.tools/pwsh/pwsh' }
            $output = & $pwsh -NoProfile -NonInteractive -File $rendered
            $LASTEXITCODE | Should -Be 1
            $output | Should -BeExactly 'Failed: Mode must be Detect or Remediate'
        }
    }
}
