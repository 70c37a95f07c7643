from markupsafe import escape


def handler(event, context):
    return {"escaped": str(escape(event.get("text", "<b>"))), "message": "hello"}
