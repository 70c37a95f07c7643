from common.catalog import PRODUCTS


def list_products(event, context):
    return {"statusCode": 200, "body": list(PRODUCTS)}


def get_product(event, context):
    return {"statusCode": 200, "body": PRODUCTS.get(event["pathParameters"]["id"])}
