#!/bin/sh
# azd postprovision hook. Two jobs:
#
# 1. With GRANT_KEYRING_ADMIN=true (the provision that creates the keyring; main.bicep then grants
#    whoever provisions Key Vault Secrets Officer): create the encryption keyring secret if, and only
#    if, Key Vault answers that it does not exist (SecretNotFound), as
#    {"<ENCRYPTION_ACTIVE_KEY>":"<base64 of 32 random bytes>"}. Any other answer (403 while the
#    grant propagates, a network error, another tenant) is never read as "absent": replacing the
#    keyring would make every stored recovery key undecryptable. Then delete the grant again.
# 2. Always: ask App Service to re-resolve its Key Vault references (the documented refresh API;
#    resolved values are otherwise cached for up to 24 hours) and wait until ENCRYPTION_KEYS is
#    Resolved, so that a provision ends with an app that can load.
#
# To rotate, add a version to the secret's JSON (keeping the old ones), set ENCRYPTION_ACTIVE_KEY, and
# run `npm run reencrypt` (docs/operations.md). Needs: az (logged in to the tenant and subscription
# azd deploys to: `az login` is separate from `azd auth login`) and openssl. The key never reaches
# stdout, a file or a template.
set -eu

: "${AZURE_KEY_VAULT_NAME:?run through azd, or set AZURE_KEY_VAULT_NAME}"
: "${AZURE_RESOURCE_GROUP:?run through azd, or set AZURE_RESOURCE_GROUP}"
: "${AZURE_FUNCTION_APP_NAME:?run through azd, or set AZURE_FUNCTION_APP_NAME}"
: "${ENCRYPTION_KEYRING_SECRET_NAME:=escrow-encryption-keys}"
: "${ENCRYPTION_ACTIVE_KEY:=v1}"
: "${GRANT_KEYRING_ADMIN:=false}"
: "${KEYRING_ADMIN_ROLE_ASSIGNMENT_ID:=}"
# Role assignments take minutes to apply, Key Vault references a moment to resolve: how often and
# how long to wait for each (defaults: 20 tries, 15 s apart).
: "${KEYRING_WAIT_TRIES:=20}"
: "${KEYRING_WAIT_SECONDS:=15}"

vault=$AZURE_KEY_VAULT_NAME
secret=$ENCRYPTION_KEYRING_SECRET_NAME

# Counts a try of the current wait; after KEYRING_WAIT_TRIES of them prints $1 and fails, else sleeps.
tries=0
wait_or_give_up() {
  tries=$((tries + 1))
  if [ "$tries" -ge "$KEYRING_WAIT_TRIES" ]; then
    echo "$1" >&2
    exit 1
  fi
  sleep "$KEYRING_WAIT_SECONDS"
}

# Prints exists, absent or forbidden; any other outcome is printed to stderr and fails.
keyring_state() {
  if out=$(az keyvault secret show --vault-name "$vault" --name "$secret" --query id -o tsv 2>&1); then
    echo exists
    return 0
  fi
  case $out in
    *SecretNotFound*) echo absent ;;
    *Forbidden*) echo forbidden ;;
    *)
      printf 'Cannot tell whether the keyring secret %s exists in %s; nothing was written:\n%s\n' "$secret" "$vault" "$out" >&2
      return 1
      ;;
  esac
}

ensure_keyring() {
  tries=0
  while :; do
    # Checked again before every write: a secret that appeared in between is never overwritten.
    state=$(keyring_state) || exit 1
    case $state in
      exists)
        echo "Keyring secret $secret exists in $vault; left as it is."
        return 0
        ;;
      absent)
        if printf '{"%s":"%s"}' "$ENCRYPTION_ACTIVE_KEY" "$(openssl rand -base64 32)" |
          az keyvault secret set --vault-name "$vault" --name "$secret" \
            --file /dev/stdin --content-type application/json --query id -o none; then
          echo "Created keyring secret $secret (version $ENCRYPTION_ACTIVE_KEY) in $vault."
          return 0
        fi
        ;;
    esac
    # forbidden (the grant has not propagated yet) or a failed write: wait, then look again.
    wait_or_give_up "Keyring secret $secret: still $state in $vault after $KEYRING_WAIT_TRIES tries (Key Vault Secrets Officer granted? GRANT_KEYRING_ADMIN=true?)"
  done
}

if [ "$GRANT_KEYRING_ADMIN" = true ]; then
  ensure_keyring
  if [ -n "$KEYRING_ADMIN_ROLE_ASSIGNMENT_ID" ]; then
    az role assignment delete --ids "$KEYRING_ADMIN_ROLE_ASSIGNMENT_ID" -o none
    echo "Removed the Key Vault Secrets Officer grant of this provision. Run: azd env set GRANT_KEYRING_ADMIN false"
  fi
else
  echo "GRANT_KEYRING_ADMIN is not true: the keyring secret is not checked or created; the app's Key Vault reference is."
fi

app_id=$(az functionapp show -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_FUNCTION_APP_NAME" --query id -o tsv)
# A URL without a host: az rest prefixes the current cloud's Resource Manager endpoint.
az rest --method post --url "$app_id/config/configreferences/appsettings/refresh?api-version=2022-03-01" -o none
tries=0
while :; do
  status=$(az rest --method get --url "$app_id/config/configreferences/appsettings/ENCRYPTION_KEYS?api-version=2022-03-01" \
    --query properties.status -o tsv)
  if [ "$status" = Resolved ]; then
    echo "ENCRYPTION_KEYS resolves from Key Vault."
    exit 0
  fi
  wait_or_give_up "ENCRYPTION_KEYS does not resolve from Key Vault (status: $status). First provision? Run: azd env set GRANT_KEYRING_ADMIN true && azd provision"
done
