#!/bin/sh
# azd postprovision hook: creates the encryption keyring secret in Key Vault if it does not exist yet,
# as {"<ENCRYPTION_ACTIVE_KEY>":"<base64 of 32 random bytes>"} (the shape ENCRYPTION_KEYS takes).
# Never overwrites: replacing the keyring would make every stored recovery key undecryptable. To
# rotate, add a version to the secret's JSON (keeping the old ones), set ENCRYPTION_ACTIVE_KEY, and
# run `npm run reencrypt` (README "Rotation").
# Needs: az (logged in, with Key Vault Secrets Officer on the vault: main.bicep grants it to the
# provisioning principal) and openssl. The key never reaches stdout, a file or a template.
set -eu

: "${AZURE_KEY_VAULT_NAME:?run through azd, or set AZURE_KEY_VAULT_NAME}"
: "${ENCRYPTION_KEYRING_SECRET_NAME:=escrow-encryption-keys}"
: "${ENCRYPTION_ACTIVE_KEY:=v1}"

if az keyvault secret show --vault-name "$AZURE_KEY_VAULT_NAME" --name "$ENCRYPTION_KEYRING_SECRET_NAME" --query id -o tsv >/dev/null 2>&1; then
  echo "Keyring secret $ENCRYPTION_KEYRING_SECRET_NAME exists in $AZURE_KEY_VAULT_NAME; left as it is."
  exit 0
fi

# Role assignments take a few minutes to apply; retry the write for up to ~5 minutes.
tries=0
until printf '{"%s":"%s"}' "$ENCRYPTION_ACTIVE_KEY" "$(openssl rand -base64 32)" |
  az keyvault secret set --vault-name "$AZURE_KEY_VAULT_NAME" --name "$ENCRYPTION_KEYRING_SECRET_NAME" \
    --file /dev/stdin --content-type application/json --query id -o none; do
  tries=$((tries + 1))
  [ "$tries" -ge 10 ] && { echo "Could not write the keyring secret (Key Vault Secrets Officer granted?)" >&2; exit 1; }
  sleep 30
done
echo "Created keyring secret $ENCRYPTION_KEYRING_SECRET_NAME (version $ENCRYPTION_ACTIVE_KEY) in $AZURE_KEY_VAULT_NAME."
echo "Restart the Function App if it started before the secret existed: az functionapp restart -g \"\$AZURE_RESOURCE_GROUP\" -n \"\$AZURE_FUNCTION_APP_NAME\""
