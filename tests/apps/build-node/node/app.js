const isNumber = require("is-number");

exports.handler = async (event) => ({ number: isNumber(event.value), message: "hello" });
