def daily(event, context):
    return {"report": "ok"}
