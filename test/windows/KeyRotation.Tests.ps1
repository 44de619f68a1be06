# Rotation after a reveal, on the Windows client: for each disclosed key not yet superseded, a new
# recovery password is added to the volume, escrowed with "@escrow.replaces", confirmed in the
# service's list, and only then is the old protector removed and the old key deleted.
#
# BitLocker is the two seams Add-RecoveryPasswordProtector and Remove-RecoveryPasswordProtector,
# mocked over the volumes the test holds (shaped as Get-BitLockerVolume and Add-BitLockerKeyProtector
# return them); each call records which requests the service had seen by then, so the order of disk
# and service steps is asserted, not inferred from clocks. The service's answers about disclosure
# come from the real host in the first test (a helpdesk reader's reveal, then detect and remediate);
# the others script the answer of the step that fails (and the steps around it) on the stage, in the
# shapes the single-use-keys contract pins, while signing and the status PUT still go to the host.

Describe 'KeyEscrow.ps1: rotation after a reveal' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'TestSupport.ps1')
        . $ScriptUnderTest
        Start-Suite 'keyrotation'
        $script:Json = @{ 'Content-Type' = 'application/json' }

        function Use-BitLockerChanges([object[]]$Added = @(), [switch]$AddFails, [switch]$RemoveFails) {
            # The volumes change as BitLocker would change them; $Added are the protectors it creates, in order.
            $script:ToAdd = [System.Collections.Generic.Queue[object]]::new()
            foreach ($protector in $Added) { $script:ToAdd.Enqueue($protector) }
            $script:DiskCalls = [System.Collections.Generic.List[object]]::new()
            $script:AddFails = [bool]$AddFails
            $script:RemoveFails = [bool]$RemoveFails
            Mock Add-RecoveryPasswordProtector {
                $script:DiskCalls.Add([pscustomobject]@{ Call = "Add $MountPoint"; SeenBefore = @(Get-StageRequestLine $Stage) })
                # FVE_E_POLICY_RECOVERY_PASSWORD_REQUIRED-like failure: BitLocker's errors are COM errors.
                if ($script:AddFails) { throw [System.Runtime.InteropServices.COMException]::new('refused', -2144272339) }
                $volume = @($script:CurrentVolumes.Volumes | Where-Object { $_.MountPoint -eq $MountPoint })[0]
                $volume.KeyProtector = @($volume.KeyProtector) + @($script:ToAdd.Dequeue())
                return $volume
            }
            Mock Remove-RecoveryPasswordProtector {
                $script:DiskCalls.Add([pscustomobject]@{ Call = "Remove $MountPoint $KeyProtectorId"; SeenBefore = @(Get-StageRequestLine $Stage) })
                if ($script:RemoveFails) { throw [System.Runtime.InteropServices.COMException]::new('refused', -2144272384) }
                $volume = @($script:CurrentVolumes.Volumes | Where-Object { $_.MountPoint -eq $MountPoint })[0]
                $volume.KeyProtector = @($volume.KeyProtector | Where-Object { $_.KeyProtectorId -ne $KeyProtectorId })
            }
        }

        function Get-StageRequestLine($Stage) {
            return @(Get-StageRequest $Stage | ForEach-Object { "$($_.method) $(($_.path -split '\?')[0])" })
        }

        function New-KeyEntry($Protector, [switch]$Disclosed, $SupersededBy) {
            # One key as the service lists it to its device, with the contract's instance annotations.
            $entry = [ordered]@{ id = (Get-ProtectorId $Protector); createdDateTime = '2026-12-01T10:00:00Z'; volumeType = 'operatingSystemVolume'; deviceId = (Get-DeviceId $script:CurrentCertificate) }
            if ($Disclosed) { $entry['@escrow.disclosedDateTime'] = '2026-12-05T09:30:00Z' }
            if ($null -ne $SupersededBy) { $entry['@escrow.supersededBy'] = (Get-ProtectorId $SupersededBy) }
            return $entry
        }

        function New-ListAnswer([object[]]$Keys) {
            return @{ method = 'GET'; pathIncludes = '/recoveryKeys?'; status = 200; headers = $Json; body = (ConvertTo-Json -InputObject ([ordered]@{ value = @($Keys) }) -Depth 5 -Compress) }
        }

        function New-SuccessorAnswer($Old, [int]$Status = 201, [string]$Body = '{}') {
            # The successor's escrow, matched on its annotation: a PATCH without it gets no scripted answer.
            # Retry-After beyond the client's 60 s: a 503 is given up on at once, not waited out.
            return @{ method = 'PATCH'; bodyIncludes = ('"@escrow.replaces":"{0}"' -f (Get-ProtectorId $Old)); status = $Status; headers = @{ 'Content-Type' = 'application/json'; 'Retry-After' = '120' }; body = $Body }
        }

        function New-DeleteAnswer($Old, [int]$Status = 204, [int]$Times = 1) {
            $body = if ($Status -eq 204) { '' } else { '{"error":{"code":"serviceNotAvailable","message":"storage is busy"}}' }
            return @{ method = 'DELETE'; pathIncludes = "/recoveryKeys/$(Get-ProtectorId $Old)"; status = $Status; times = $Times; headers = @{ 'Content-Type' = 'application/json'; 'Retry-After' = '120' }; body = $body }
        }

        function New-RotationScript([int]$DeleteStatus = 204) {
            # The service's side of one rotation of $Old: disclosed, successor taken, confirmed, old key deleted.
            return @(
                (New-ListAnswer @(New-KeyEntry $Old -Disclosed)),
                (New-SuccessorAnswer $Old),
                (New-ListAnswer @((New-KeyEntry $Old -Disclosed -SupersededBy $New), (New-KeyEntry $New))),
                (New-DeleteAnswer $Old $DeleteStatus)
            )
        }

        function Get-Protectors([string]$MountPoint) {
            return @(@($script:CurrentVolumes.Volumes | Where-Object { $_.MountPoint -eq $MountPoint })[0].KeyProtector)
        }

        function Use-DisclosedDevice {
            # A device whose OS volume has a TPM+PIN, a TPM and one recovery password, that password disclosed.
            $script:Tpm = New-Protector -Type 'Tpm'; $script:TpmPin = New-Protector -Type 'TpmPin'
            $script:Old = New-Protector; $script:New = New-Protector
            Use-Device | Out-Null
            Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @($Tpm, $TpmPin, $Old))) @{ 'C:' = 0 }
            Use-BitLockerChanges -Added @($New)
        }
    }

    AfterAll { Stop-Suite }

    BeforeEach { Reset-Suite }

    It 'against the service itself: a reveal makes detect exit 1, remediate rotates, the old key becomes a deleted item' {
        $certificate = Use-Device
        $tpm = New-Protector -Type 'Tpm'; $old = New-Protector; $new = New-Protector
        Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @($tpm, $old))) @{ 'C:' = 0 }
        Use-BitLockerChanges -Added @($new)
        Assert-Run 'Remediate' 'Escrowed 1' 0
        Assert-Run 'Detect' 'UpToDate' 0
        $reader = Get-StageToken $Stage @('BitLockerKey.Read.All')
        (Invoke-StageApi $Stage 'GET' "/v1.0/informationProtection/bitlocker/recoveryKeys/$(Get-ProtectorId $old)?`$select=key" $reader).Json.key | Should -BeExactly $old.RecoveryPassword

        Assert-Run 'Detect' 'RotationDue 1' 1
        Assert-Run 'Remediate' 'Rotated 1' 0
        Assert-Run 'Detect' 'UpToDate' 0
        $DiskCalls.Call | Should -Be @('Add C:', "Remove C: $($old.KeyProtectorId)")
        (Get-Protectors 'C:').KeyProtectorId | Should -Be @($tpm.KeyProtectorId, $new.KeyProtectorId)
        @(Get-ListedKeys $certificate).id | Should -Be @(Get-ProtectorId $new)
        $basic = Get-StageToken $Stage @('BitLockerKey.ReadBasic.All')
        $deleted = Invoke-StageApi $Stage 'GET' "/v1.0/directory/deletedItems/$(Get-ProtectorId $old)" $basic
        $deleted.Status | Should -Be 200
        $deleted.Json.'@escrow.supersededBy' | Should -Be (Get-ProtectorId $new)
        $deleted.Json.'@escrow.disclosedDateTime' | Should -Match '^\d{4}-\d\d-\d\dT'
        (Invoke-StageApi $Stage 'GET' "/v1.0/informationProtection/bitlocker/recoveryKeys/$(Get-ProtectorId $new)?`$select=key" $reader).Json.key | Should -BeExactly $new.RecoveryPassword
    }

    It 'against the service itself: two revealed passwords on one volume are both rotated, each with its own successor' {
        $certificate = Use-Device
        $first = New-Protector; $second = New-Protector; $firstNew = New-Protector; $secondNew = New-Protector
        Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @($first, $second))) @{ 'C:' = 0 }
        Use-BitLockerChanges -Added @($firstNew, $secondNew)
        Assert-Run 'Remediate' 'Escrowed 2' 0
        $reader = Get-StageToken $Stage @('BitLockerKey.Read.All')
        foreach ($revealed in @($first, $second)) {
            (Invoke-StageApi $Stage 'GET' "/v1.0/informationProtection/bitlocker/recoveryKeys/$(Get-ProtectorId $revealed)?`$select=key" $reader).Status | Should -Be 200
        }
        Assert-Run 'Remediate' 'Rotated 2' 0
        (Get-Protectors 'C:').KeyProtectorId | Sort-Object | Should -Be (@($firstNew.KeyProtectorId, $secondNew.KeyProtectorId) | Sort-Object)
        @(Get-ListedKeys $certificate).id | Sort-Object | Should -Be (@((Get-ProtectorId $firstNew), (Get-ProtectorId $secondNew)) | Sort-Object)
    }

    It 'detect exits 1 while a rotation is due, and touches no protector' {
        Use-DisclosedDevice
        Set-StageFault $Stage @((New-ListAnswer @(New-KeyEntry $Old -Disclosed)))
        Assert-Run 'Detect' 'RotationDue 1' 1
        $DiskCalls.Count | Should -Be 0
        Get-StageRequestLine $Stage | Should -Be @('GET /v1.0/informationProtection/bitlocker/recoveryKeys', "PUT /v1.0/informationProtection/bitlocker/deviceStatuses/$(Get-DeviceId $CurrentCertificate)")
    }

    It 'adds, escrows with @escrow.replaces, confirms in the list, then removes the old protector and deletes the old key' {
        Use-DisclosedDevice
        Set-StageFault $Stage (New-RotationScript)
        $result = Invoke-Run 'Remediate'
        $result.Line | Should -BeExactly 'Rotated 1'
        $result.ExitCode | Should -Be 0

        $list = 'GET /v1.0/informationProtection/bitlocker/recoveryKeys'
        $DiskCalls.Call | Should -Be @('Add C:', "Remove C: $($Old.KeyProtectorId)")
        $DiskCalls[0].SeenBefore | Should -Be @($list)
        $DiskCalls[1].SeenBefore | Should -Be @($list, 'PATCH /v1.0/informationProtection/bitlocker/recoveryKeys', $list)
        Get-StageRequestLine $Stage | Should -Be @(
            $list, 'PATCH /v1.0/informationProtection/bitlocker/recoveryKeys', $list,
            "DELETE /v1.0/informationProtection/bitlocker/recoveryKeys/$(Get-ProtectorId $Old)",
            "PUT /v1.0/informationProtection/bitlocker/deviceStatuses/$(Get-DeviceId $CurrentCertificate)")
        # The TPM protectors are untouched; the new recovery password took the old one's place.
        (Get-Protectors 'C:').KeyProtectorId | Should -Be @($Tpm.KeyProtectorId, $TpmPin.KeyProtectorId, $New.KeyProtectorId)
        $token = Get-StageToken $Stage @('BitLockerKey.ReadBasic.All')
        $status = Invoke-StageApi $Stage 'GET' "/v1.0/informationProtection/bitlocker/deviceStatuses/$(Get-DeviceId $CurrentCertificate)" $token
        $status.Json.volumes[0].recoveryPasswordIds | Should -Be @(Get-ProtectorId $New)
        $status.Json.volumes[0].keyProtectorTypes | Should -Be @('tpm', 'tpmPin')
        $result.Line + ($Events -join ' ') | Should -Not -Match ([regex]::Escape($New.RecoveryPassword))
    }

    It 'escrow <name>: the old protector and key stay; <what>' -ForEach @(
        @{ name = 'refused (409)'; what = 'the new protector is taken off again'; status = 409; body = '{"error":{"code":"conflict","message":"The key already has a successor."}}'; line = 'Rotated 0; RotationFailed 1: Conflict: The key already has a successor.'; removed = $true }
        @{ name = 'unanswered (503)'; what = 'the new one stays for the next run to escrow'; status = 503; body = '{"error":{"code":"serviceNotAvailable","message":"try later"}}'; line = 'Rotated 0; RotationFailed 1: ServiceUnavailable: try later'; removed = $false }
    ) {
        Use-DisclosedDevice
        Set-StageFault $Stage @((New-ListAnswer @(New-KeyEntry $Old -Disclosed)), (New-SuccessorAnswer $Old $status $body))
        $result = Invoke-Run 'Remediate'
        $result.Line | Should -BeExactly $line
        $result.ExitCode | Should -Be 1
        @(Get-StageRequestLine $Stage | Where-Object { $_ -like 'DELETE *' }).Count | Should -Be 0
        $kept = @($Tpm.KeyProtectorId, $TpmPin.KeyProtectorId, $Old.KeyProtectorId)
        if ($removed) {
            $DiskCalls.Call | Should -Be @('Add C:', "Remove C: $($New.KeyProtectorId)")
            (Get-Protectors 'C:').KeyProtectorId | Should -Be $kept
        } else {
            $DiskCalls.Call | Should -Be @('Add C:')
            (Get-Protectors 'C:').KeyProtectorId | Should -Be ($kept + $New.KeyProtectorId)
            Set-StageFault $Stage @((New-ListAnswer @(New-KeyEntry $Old -Disclosed)))
            Assert-Run 'Detect' 'MissingKeys 1; RotationDue 1' 1
        }
    }

    It 'the confirming list does not show the new key: the old protector and key stay' {
        Use-DisclosedDevice
        Set-StageFault $Stage @(
            (New-ListAnswer @(New-KeyEntry $Old -Disclosed)),
            (New-SuccessorAnswer $Old),
            (New-ListAnswer @(New-KeyEntry $Old -Disclosed))
        )
        $result = Invoke-Run 'Remediate'
        $result.Line | Should -BeExactly 'Rotated 0; RotationFailed 1: the service does not list the new key as the successor'
        $result.ExitCode | Should -Be 1
        $DiskCalls.Call | Should -Be @('Add C:')
        (Get-Protectors 'C:').KeyProtectorId | Should -Contain $Old.KeyProtectorId
        @(Get-StageRequestLine $Stage | Where-Object { $_ -like 'DELETE *' }).Count | Should -Be 0
    }

    It 'the delete fails: the old protector is gone, the run says so and exits 1, and the next run retires the key' {
        Use-DisclosedDevice
        Set-StageFault $Stage (New-RotationScript 503)
        $result = Invoke-Run 'Remediate'
        $result.Line | Should -BeExactly 'Rotated 1; RotationFailed 1: ServiceUnavailable: storage is busy'
        $result.ExitCode | Should -Be 1
        (Get-Protectors 'C:').KeyProtectorId | Should -Not -Contain $Old.KeyProtectorId

        # Next run: the old key is listed, superseded by a protector that is on the disk.
        $after = @((New-KeyEntry $Old -Disclosed -SupersededBy $New), (New-KeyEntry $New))
        Set-StageFault $Stage @((New-ListAnswer $after))
        Assert-Run 'Detect' 'RotationDue 1' 1
        Clear-StageRequest $Stage
        Set-StageFault $Stage @((New-ListAnswer $after), (New-DeleteAnswer $Old))
        Assert-Run 'Remediate' 'Rotated 0; Retired 1' 0
        @(Get-StageRequestLine $Stage | Where-Object { $_ -like 'DELETE *' }) | Should -Be @("DELETE /v1.0/informationProtection/bitlocker/recoveryKeys/$(Get-ProtectorId $Old)")
        $DiskCalls.Call | Should -Be @('Add C:', "Remove C: $($Old.KeyProtectorId)")
    }

    It 'BitLocker refuses the new protector: nothing else happens' {
        Use-DisclosedDevice
        Use-BitLockerChanges -Added @($New) -AddFails
        Set-StageFault $Stage @((New-ListAnswer @(New-KeyEntry $Old -Disclosed)))
        $result = Invoke-Run 'Remediate'
        $result.Line | Should -BeExactly 'Rotated 0; RotationFailed 1: the new protector could not be added: COMException (0x8031002D)'
        $result.ExitCode | Should -Be 1
        @(Get-StageRequestLine $Stage | Where-Object { $_ -notlike 'GET *' -and $_ -notlike 'PUT *' }).Count | Should -Be 0
    }

    It 'BitLocker refuses to remove the old protector: the old key is not deleted' {
        Use-DisclosedDevice
        Use-BitLockerChanges -Added @($New) -RemoveFails
        Set-StageFault $Stage (New-RotationScript)
        $result = Invoke-Run 'Remediate'
        $result.Line | Should -BeExactly 'Rotated 0; RotationFailed 1: the old protector could not be removed: COMException (0x80310000)'
        @(Get-StageRequestLine $Stage | Where-Object { $_ -like 'DELETE *' }).Count | Should -Be 0
    }

    It 'a superseded key whose successor is not on the disk is left alone: never the last recovery password' {
        Use-DisclosedDevice
        $elsewhere = New-Protector
        Set-StageFault $Stage @((New-ListAnswer @((New-KeyEntry $Old -Disclosed -SupersededBy $elsewhere), (New-KeyEntry $elsewhere))))
        Assert-Run 'Remediate' 'UpToDate' 0
        $DiskCalls.Count | Should -Be 0
    }

    It 'skips removable drives and locked volumes, and leaves keys that were not disclosed' {
        Use-Device | Out-Null
        $os = New-Protector; $usb = New-Protector; $locked = New-Protector
        Use-Volumes @((New-Volume 'C:' 'OperatingSystem' @($os)), (New-Volume 'E:' 'Data' @($usb)), (New-Volume 'F:' 'Data' @($locked) 'Locked')) @{ 'C:' = 0; 'E:' = 2; 'F:' = 1 }
        Use-BitLockerChanges
        $keys = @((New-KeyEntry $os), (New-KeyEntry $usb -Disclosed), (New-KeyEntry $locked -Disclosed))
        Set-StageFault $Stage @((New-ListAnswer $keys), (New-ListAnswer $keys))
        Assert-Run 'Detect' 'UpToDate; RotationSkipped 2 (removable drive or locked volume)' 0
        Assert-Run 'Remediate' 'UpToDate; RotationSkipped 2 (removable drive or locked volume)' 0
        $DiskCalls.Count | Should -Be 0
    }

    It 'escrows missing keys and rotates in one run, and says both' {
        Use-DisclosedDevice
        $data = New-Protector
        $script:CurrentVolumes.Volumes += New-Volume 'D:' 'Data' @($data)
        $script:CurrentTypes['D:'] = 1
        Set-StageFault $Stage @(
            (New-ListAnswer @(New-KeyEntry $Old -Disclosed)),
            (New-SuccessorAnswer $Old),
            (New-ListAnswer @((New-KeyEntry $Old -Disclosed -SupersededBy $New), (New-KeyEntry $New), (New-KeyEntry $data))),
            (New-DeleteAnswer $Old)
        )
        Assert-Run 'Remediate' 'Escrowed 1; Rotated 1' 0
    }
}

Describe 'the rotation seams call BitLocker as Microsoft documents it' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'TestSupport.ps1')
        . $ScriptUnderTest
        # The BitLocker module exists only on Windows: stand-ins with its parameters, to be mocked.
        function Add-BitLockerKeyProtector {
            [CmdletBinding()]
            param([string[]]$MountPoint, [switch]$RecoveryPasswordProtector, [switch]$TpmProtector, [switch]$TpmAndPinProtector)
        }
        function Remove-BitLockerKeyProtector {
            [CmdletBinding(SupportsShouldProcess)]
            param([string[]]$MountPoint, [string]$KeyProtectorId)
        }
    }

    It 'adds only a recovery password protector, with the warning that prints it silenced, and hands back the volume' {
        $volume = New-Volume 'C:' 'OperatingSystem' @(New-Protector)
        Mock Add-BitLockerKeyProtector { $volume }
        Add-RecoveryPasswordProtector 'C:' | Should -Be $volume
        Should -Invoke Add-BitLockerKeyProtector -Times 1 -Exactly -ParameterFilter {
            $MountPoint -eq 'C:' -and $RecoveryPasswordProtector -and -not $TpmProtector -and -not $TpmAndPinProtector -and
            $PesterBoundParameters['WarningAction'] -eq 'SilentlyContinue' -and $PesterBoundParameters['ErrorAction'] -eq 'Stop'
        }
    }

    It 'removes one protector by its id, without a prompt, and stops on an error' {
        Mock Remove-BitLockerKeyProtector { }
        Remove-RecoveryPasswordProtector 'C:' '{5F1C4E0A-1B2C-4D3E-8F90-A1B2C3D4E5F6}'
        Should -Invoke Remove-BitLockerKeyProtector -Times 1 -Exactly -ParameterFilter {
            $MountPoint -eq 'C:' -and $KeyProtectorId -eq '{5F1C4E0A-1B2C-4D3E-8F90-A1B2C3D4E5F6}' -and
            $PesterBoundParameters['Confirm'] -eq $false -and $PesterBoundParameters['ErrorAction'] -eq 'Stop'
        }
    }
}
