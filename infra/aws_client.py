"""boto3 clients for the infra commands, a malformed endpoint setting said in one line."""

from __future__ import annotations

from typing import Any

from infra.exceptions import InfraError


def aws_client(factory: Any, service: str, **settings: Any) -> Any:
    """`factory.client(service, **settings)` (`factory`: boto3 or a boto3 Session).

    Raises:
        InfraError: botocore refuses the region or the endpoint it was given (AWS_ENDPOINT_URL without its scheme,
            say), which it reports as a bare ValueError.
    """
    from botocore.exceptions import InvalidRegionError

    try:
        return factory.client(service, **settings)
    except InvalidRegionError as exc:  # a ValueError too: named first
        raise InfraError(
            f"cannot make an AWS {service} client: {exc}; name a region such as eu-west-1 (AWS_DEFAULT_REGION or a "
            "profile's region)"
        ) from None
    except ValueError as exc:
        raise InfraError(
            f"cannot make an AWS {service} client: {exc}; AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_{service.upper()}) "
            "must be a whole URL, such as http://127.0.0.1:5050"
        ) from None
