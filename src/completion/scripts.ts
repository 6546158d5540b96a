/**
 * Shell completion scripts for `kubectl-istio_ca` typed directly (kubectl's own `kubectl istio-ca` completion goes
 * through completion/kubectl_complete-istio_ca instead). Every script asks the plugin itself, with the hidden
 * `__complete -- WORDS` command, and reads Cobra's format back: `candidate<TAB>description` lines, then
 * `:<directive>` (4: no file completion; 16: directories only; 0: files).
 */
export const SHELLS = ['bash', 'zsh', 'fish', 'powershell'] as const;
export type Shell = (typeof SHELLS)[number];

const BIN = 'kubectl-istio_ca';

const bash = `# bash completion for ${BIN}
# Load it in this shell:     source <(${BIN} completion bash)
# Load it in every shell:    ${BIN} completion bash > ~/.local/share/bash-completion/completions/${BIN}
_kubectl_istio_ca() {
  local cur=\${COMP_WORDS[COMP_CWORD]} out directive line strip='' lead='' i
  local -a words=() candidates=()
  # bash splits --flag=value at '=' (COMP_WORDBREAKS): join the pieces back for the plugin.
  for ((i = 1; i <= COMP_CWORD; i++)); do
    if (( \${#words[@]} )) && [[ \${COMP_WORDS[i]} == = || \${COMP_WORDS[i-1]} == = ]]; then
      words[\${#words[@]}-1]+=\${COMP_WORDS[i]}
    else
      words+=("\${COMP_WORDS[i]}")
    fi
  done
  local last=\${words[\${#words[@]}-1]}
  if [[ $last == --*=* && $cur != --* ]]; then
    strip=\${last%%=*}=
    if [[ $cur == = ]]; then cur='' lead='='; fi
  fi
  out=$("\${COMP_WORDS[0]}" __complete -- "\${words[@]}" 2>/dev/null) || return 0
  directive=\${out##*:}
  [[ $directive =~ ^[0-9]+$ ]] || directive=0
  while IFS= read -r line; do
    case $line in
      :*) ;;
      *) line=\${line%%$'\\t'*}; candidates+=("\${line#"$strip"}") ;;
    esac
  done <<< "$out"
  COMPREPLY=()
  if (( directive & 16 )); then
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -d -- "$cur")
  elif (( \${#candidates[@]} )); then
    mapfile -t COMPREPLY < <(compgen -P "$lead" -W "\${candidates[*]}" -- "$cur")
  elif (( ! (directive & 4) )); then
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  fi
  return 0
}
complete -F _kubectl_istio_ca ${BIN}
`;

const zsh = `#compdef ${BIN}
# zsh completion for ${BIN}
# Load it in this shell:     source <(${BIN} completion zsh)    (after compinit)
# Load it in every shell:    ${BIN} completion zsh > "\${fpath[1]}/_${BIN}"
_kubectl_istio_ca() {
  local out directive line
  local -a lines candidates
  out=$("\${words[1]}" __complete -- "\${(@)words[2,CURRENT]}" 2>/dev/null) || return 1
  lines=("\${(@f)out}")
  directive=\${lines[-1]#:}
  [[ $directive == <-> ]] || directive=0
  for line in "\${(@)lines[1,-2]}"; do
    if [[ $line == *$'\\t'* ]]; then
      candidates+=("\${\${line%%$'\\t'*}//:/\\\\:}:\${line#*$'\\t'}")
    elif [[ -n $line ]]; then
      candidates+=("\${line//:/\\\\:}")
    fi
  done
  if (( directive & 16 )); then
    _files -/
  elif (( \${#candidates} )); then
    _describe -t values 'kubectl istio-ca' candidates
  elif (( ! (directive & 4) )); then
    _files
  else
    return 1
  fi
}
if [[ \${funcstack[1]} == _kubectl_istio_ca ]]; then
  _kubectl_istio_ca "$@"
else
  compdef _kubectl_istio_ca ${BIN}
fi
`;

const fish = `# fish completion for ${BIN}
# Load it in this shell:     ${BIN} completion fish | source
# Load it in every shell:    ${BIN} completion fish > ~/.config/fish/completions/${BIN}.fish
function __kubectl_istio_ca_complete
    set -l words (commandline -opc) (commandline -ct)
    set -l out ($words[1] __complete -- $words[2..-1] 2>/dev/null)
    or return
    set -l directive (string replace -r '^:' '' -- $out[-1])
    string match -qr '^[0-9]+$' -- $directive; or set directive 0
    if test (math "bitand($directive, 16)") -ne 0
        __fish_complete_directories (commandline -ct)
        return
    end
    for line in $out[1..-2]
        echo $line
    end
    if test (count $out) -le 1; and test (math "bitand($directive, 4)") -eq 0
        __fish_complete_path (commandline -ct)
    end
end
complete -c ${BIN} -f -a '(__kubectl_istio_ca_complete)'
`;

const powershell = `# PowerShell completion for ${BIN}
# Load it in this shell:     ${BIN} completion powershell | Out-String | Invoke-Expression
# Load it in every shell:    add the line above to $PROFILE
Register-ArgumentCompleter -Native -CommandName '${BIN}', '${BIN}.exe' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $words = @($commandAst.CommandElements | Select-Object -Skip 1 | ForEach-Object { $_.ToString() })
    if ($wordToComplete -eq '') { $words += '' }
    $program = $commandAst.CommandElements[0].ToString()
    $out = @(& $program __complete -- @words 2>$null)
    if ($out.Count -eq 0) { return }
    $directive = 0
    [void][int]::TryParse(($out[-1] -replace '^:', ''), [ref]$directive)
    if ($directive -band 16) {
        Get-ChildItem -Directory -Path "$wordToComplete*" -ErrorAction SilentlyContinue | ForEach-Object {
            [System.Management.Automation.CompletionResult]::new($_.Name, $_.Name, 'ProviderContainer', $_.Name)
        }
        return
    }
    $out | Select-Object -SkipLast 1 | ForEach-Object {
        $candidate, $description = $_ -split "\`t", 2
        if (-not $description) { $description = $candidate }
        [System.Management.Automation.CompletionResult]::new($candidate, $candidate, 'ParameterValue', $description)
    }
}
`;

/** The completion script of `shell`. */
export function completionScript(shell: Shell): string {
  return { bash, zsh, fish, powershell }[shell];
}
