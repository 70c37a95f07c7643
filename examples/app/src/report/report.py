"""A function with its own package."""


def handler(event, context):
    return {"report": "all good", "items": len(event.get("items", []))}
