from version import VERSION


def handler(event, context):
    return {"version": VERSION}
