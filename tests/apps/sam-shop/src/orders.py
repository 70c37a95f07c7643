from shared.money import cents


def place(event, context):
    return {"statusCode": 202, "body": cents(9.99)}


def process(event, context):
    return {"processed": len(event.get("Records", []))}


def ship(event, context):
    return {"shipped": True}
