"""The scheduled class-mix drift check: its own Lambda function (boto3 and the standard library only)."""
