const isNumber = require("is-number");
const isOdd = require("is-odd");

exports.handler = async (event) => ({ number: isNumber(event.value), odd: isOdd(event.value) });
