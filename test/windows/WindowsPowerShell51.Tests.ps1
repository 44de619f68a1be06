# Intune runs the client in Windows PowerShell 5.1, which cannot run here: the script is parsed with
# PowerShell's own parser and its syntax tree searched for what 5.1 lacks or does differently.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestSupport.ps1')

    function Get-ScriptAst([string]$Text) {
        $tokens = $null
        $errors = $null
        $ast = [System.Management.Automation.Language.Parser]::ParseInput($Text, [ref]$tokens, [ref]$errors)
        return [pscustomobject]@{ Ast = $ast; Tokens = $tokens; Errors = $errors }
    }

    function Find-Ast($Parsed, [scriptblock]$Predicate) {
        return @($Parsed.Ast.FindAll($Predicate, $true))
    }

    function Find-51Problem([string]$Text) {
        # Every construct of the script that Windows PowerShell 5.1 lacks, as "line: what".
        $parsed = Get-ScriptAst $Text
        $problems = [System.Collections.Generic.List[string]]::new()
        foreach ($parseError in @($parsed.Errors)) { $problems.Add("$($parseError.Extent.StartLineNumber): does not parse: $($parseError.Message)") }
        $add = { param($node, $what) $problems.Add("$($node.Extent.StartLineNumber): $what") }

        foreach ($node in Find-Ast $parsed { param($n) $n.GetType().Name -in @('TernaryExpressionAst', 'PipelineChainAst') }) {
            & $add $node $node.GetType().Name
        }
        foreach ($node in Find-Ast $parsed { param($n) $n -is [System.Management.Automation.Language.BinaryExpressionAst] -and [string]$n.Operator -eq 'QuestionQuestion' }) {
            & $add $node 'the ?? operator'
        }
        foreach ($node in Find-Ast $parsed { param($n) $n -is [System.Management.Automation.Language.AssignmentStatementAst] -and [string]$n.Operator -eq 'QuestionQuestionEquals' }) {
            & $add $node 'the ??= operator'
        }
        foreach ($node in Find-Ast $parsed { param($n) $n -is [System.Management.Automation.Language.MemberExpressionAst] -and $n.NullConditional }) {
            & $add $node 'the ?. or ?[] operator'
        }
        foreach ($node in Find-Ast $parsed { param($n) $n -is [System.Management.Automation.Language.NamedBlockAst] -and [string]$n.BlockKind -eq 'Clean' }) {
            & $add $node 'a clean block'
        }
        $sevenOnly = @('Parallel', 'ThrottleLimit', 'SkipHttpErrorCheck', 'StatusCodeVariable', 'AsHashtable', 'SkipCertificateCheck', 'ResponseHeadersVariable', 'SkipHeaderValidation', 'Authentication', 'Token', 'SslProtocol', 'MaximumRetryCount', 'RetryIntervalSec', 'DateKind', 'Depth', 'NoEnumerate', 'AsArray', 'EscapeHandling', 'AsByteStream')
        foreach ($node in Find-Ast $parsed { param($n) $n -is [System.Management.Automation.Language.CommandParameterAst] }) {
            $command = $node.Parent.GetCommandName()
            # 5.1 has ConvertTo-Json -Depth and Write-Output -NoEnumerate; ConvertFrom-Json -Depth and -NoEnumerate are 7's.
            if ($node.ParameterName -eq 'Depth' -and $command -eq 'ConvertTo-Json') { continue }
            if ($node.ParameterName -eq 'NoEnumerate' -and $command -eq 'Write-Output') { continue }
            if ($node.ParameterName -in $sevenOnly) { & $add $node "-$($node.ParameterName) (PowerShell 7 only)" }
        }
        # A Nullable<T> property is handed back unwrapped (or $null): .Value on it throws under Set-StrictMode.
        $nullables = @('Delta', 'Date', 'ContentLength', 'Length', 'MaxAge', 'Expires', 'LastModified')
        foreach ($node in Find-Ast $parsed { param($n) $n -is [System.Management.Automation.Language.MemberExpressionAst] -and ([string]$n.Member) -eq 'Value' -and $n.Expression -is [System.Management.Automation.Language.MemberExpressionAst] -and ([string]$n.Expression.Member) -in $nullables }) {
            & $add $node ".Value on the Nullable $($node.Expression.Member)"
        }
        # System.Net.Http is not loaded in 5.1 until asked for: every use must come after Add-Type -AssemblyName System.Net.Http.
        $loads = @(Find-Ast $parsed { param($n) $n -is [System.Management.Automation.Language.CommandAst] -and $n.GetCommandName() -eq 'Add-Type' -and $n.Extent.Text -match 'System\.Net\.Http' })
        $uses = @(Find-Ast $parsed { param($n) $n -is [System.Management.Automation.Language.TypeExpressionAst] -and $n.TypeName.FullName -match '^System\.Net\.Http\.' })
        if ($uses.Count -gt 0 -and $loads.Count -eq 0) { & $add $uses[0] 'System.Net.Http used without Add-Type -AssemblyName System.Net.Http' }
        # PowerShell 6+ type accelerators and classes that .NET Framework lacks.
        foreach ($node in Find-Ast $parsed { param($n) $n -is [System.Management.Automation.Language.TypeExpressionAst] -and $n.TypeName.FullName -match '^(semver|System\.Management\.Automation\.SemanticVersion|System\.Text\.Json\.|System\.Net\.Http\.Json\.)' }) {
            & $add $node "the type $($node.TypeName.FullName) (not in .NET Framework)"
        }
        return $problems
    }

    $script:Source = Get-Content -Path $ScriptUnderTest -Raw
}

Describe 'KeyEscrow.ps1 is Windows PowerShell 5.1 code' {
    It 'parses, and uses nothing 5.1 lacks' {
        Find-51Problem $Source | Should -BeNullOrEmpty
    }

    It 'loads System.Net.Http before the first HttpClient, in the function that makes it' {
        $parsed = Get-ScriptAst $Source
        $maker = @(Find-Ast $parsed { param($n) $n -is [System.Management.Automation.Language.FunctionDefinitionAst] -and $n.Name -eq 'New-HttpClient' })
        $maker.Count | Should -Be 1
        $maker[0].Body.Extent.Text | Should -Match '(?s)Add-Type -AssemblyName System\.Net\.Http.*\[System\.Net\.Http\.HttpClient\]::new'
    }

    It 'guards its entry point, so that dot-sourcing runs nothing' {
        $parsed = Get-ScriptAst $Source
        $last = $parsed.Ast.EndBlock.Statements[$parsed.Ast.EndBlock.Statements.Count - 1]
        $last.Extent.Text | Should -Match "^if \(\`$MyInvocation\.InvocationName -ne '\.'\)"
    }

    It 'the check finds <what>' -ForEach @(
        @{ what = 'the ternary operator'; text = '$a = $true ? 1 : 2' }
        @{ what = 'the ?? operator'; text = '$a = $null ?? 1' }
        @{ what = 'the ??= operator'; text = '$a ??= 1' }
        @{ what = 'the ?. operator'; text = '${a}?.Length' }
        @{ what = 'a pipeline chain'; text = 'Get-Date && Get-Date' }
        @{ what = 'a clean block'; text = 'function f { process { 1 } clean { 2 } }' }
        @{ what = 'ForEach-Object -Parallel'; text = '1..2 | ForEach-Object -Parallel { $_ }' }
        @{ what = 'Invoke-WebRequest -SkipHttpErrorCheck'; text = 'Invoke-WebRequest -Uri x -SkipHttpErrorCheck' }
        @{ what = 'Invoke-RestMethod -StatusCodeVariable'; text = 'Invoke-RestMethod -Uri x -StatusCodeVariable s' }
        @{ what = 'ConvertFrom-Json -AsHashtable'; text = '"{}" | ConvertFrom-Json -AsHashtable' }
        @{ what = 'Invoke-RestMethod -SkipCertificateCheck'; text = 'Invoke-RestMethod -Uri x -SkipCertificateCheck' }
        @{ what = '.Value on a Nullable'; text = '$r.Headers.RetryAfter.Delta.Value.TotalSeconds' }
        @{ what = 'HttpClient without loading System.Net.Http'; text = '$c = [System.Net.Http.HttpClient]::new()' }
    ) {
        @(Find-51Problem $text).Count | Should -BeGreaterThan 0
    }
}
