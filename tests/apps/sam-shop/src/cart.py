from shared.money import cents


def add(event, context):
    return {"statusCode": 201, "body": cents(1.5)}


def changed(event, context):
    return {"records": len(event.get("Records", []))}
