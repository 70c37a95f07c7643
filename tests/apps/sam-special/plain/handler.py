def main(event, context):
    return "plain"
