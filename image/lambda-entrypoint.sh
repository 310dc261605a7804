#!/bin/sh
# The image's entry point as a Lambda function: the runtime interface client (aws-lambda-ric), which
# polls the Lambda Runtime API for events and calls the handler named by the image's CMD
# ("dist/functions/backup.handler"; each function overrides it). aws-lambda-ric 4 reads the handler
# from _HANDLER and the code's root from LAMBDA_TASK_ROOT, as AWS's own base images' entry point
# sets them, so this does the same. The Fargate task does not come through here: it sets its own
# entry point, node and dist/functions/backup-task.js.
set -eu
if [ "$#" -gt 0 ]; then export _HANDLER="$1"; fi
: "${_HANDLER:?the image needs a handler: its CMD, e.g. dist/functions/backup.handler}"
export LAMBDA_TASK_ROOT="${LAMBDA_TASK_ROOT:-/var/task}"
exec /var/lang/bin/node /opt/lambda-ric/node_modules/aws-lambda-ric/index.mjs
