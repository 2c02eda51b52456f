#!/usr/bin/env python3
"""A Python CGI health check, what a clearskies user runs without this project."""
import sys

BODY = '{"status":"success","error":"","data":{},"pagination":{},"input_errors":{}}'
sys.stdout.write("Status: 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
                 "Vary: Accept, Authorization\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY))
