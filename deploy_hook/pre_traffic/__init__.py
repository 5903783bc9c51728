"""The CodeDeploy PreTraffic hook: its own Lambda function (boto3 and the standard library only)."""
