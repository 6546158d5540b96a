@echo off
rem Shell completion of `kubectl istio-ca` for kubectl 1.26 and later (see kubectl_complete-istio_ca): kubectl
rem runs this file from PATH with the words after `kubectl istio-ca`; the plugin answers with its __complete command.
if exist "%~dp0kubectl-istio_ca.exe" (
  "%~dp0kubectl-istio_ca.exe" __complete -- %*
) else (
  kubectl-istio_ca.exe __complete -- %*
)
