def main(event, context):
    return "canary"
