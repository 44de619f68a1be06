# Runs the Pester suites under test/windows with the pinned Pester (npm run setup:tools).
#   Contributors:  npm run build; .tools/pwsh/pwsh -NoProfile -File test/windows/run.ps1
#   jest (test/windows/pester.test.ts) passes -ResultPath to get one JSON record per test.
param(
    [string]$ResultPath,
    [string]$PesterPath = (Join-Path $PSScriptRoot '../../.tools/nuget/pester/5.7.1/tools/Pester.psd1')
)
$ErrorActionPreference = 'Stop'
Import-Module $PesterPath -Force
$configuration = New-PesterConfiguration
$configuration.Run.Path = $PSScriptRoot
$configuration.Run.PassThru = $true
$configuration.Output.Verbosity = if ($ResultPath) { 'Normal' } else { 'Detailed' }
$run = Invoke-Pester -Configuration $configuration
if ($ResultPath) {
    $records = @($run.Tests | ForEach-Object {
            [ordered]@{
                name    = $_.ExpandedPath
                result  = [string]$_.Result
                message = (@($_.ErrorRecord) | ForEach-Object { [string]$_ }) -join "`n"
            }
        })
    # A failure outside any test (a BeforeAll, a parse error) fails no test: it is a record of its own.
    foreach ($container in @($run.Containers | Where-Object { $_.Result -eq 'Failed' -and @($_.ErrorRecord).Count -gt 0 })) {
        $records += [ordered]@{ name = "$($container.Item) (setup)"; result = 'Failed'; message = (@($container.ErrorRecord) | ForEach-Object { [string]$_ }) -join "`n" }
    }
    ConvertTo-Json -InputObject $records -Depth 4 | Set-Content -Path $ResultPath -Encoding utf8
}
exit $run.FailedCount
