#!/usr/bin/python3
"""The CPU boto3 spends making one DynamoDB call: what the Flask original
paid for each request's store call, measured against the same local
stand-in as the service, on the same machine, in the same run.

    boto3_calls.py ENDPOINT TABLE CALLS

Prints one JSON line: microseconds of this process's CPU (user + system)
per call the service makes for a request, made the same way: the get (a
Query on the key, ConsistentRead, Select COUNT), the put (put_item), and
the whole listing (a paginated Scan of the key, ConsistentRead), each
after a warm-up, so the client and its connection are built already.
Debian's python3-boto3, the SDK the original used (make bench installs it).
"""
import json
import resource
import sys

import boto3


def cpu_us():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return (r.ru_utime + r.ru_stime) * 1e6


def per_call(fn, n):
    for _ in range(min(50, n)):
        fn()
    t0 = cpu_us()
    for _ in range(n):
        fn()
    return (cpu_us() - t0) / n


def main():
    endpoint, table, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = boto3.client('dynamodb', endpoint_url=endpoint,
                          region_name='us-east-1',
                          aws_access_key_id='AKIABENCHBOTO3000001',
                          aws_secret_access_key='bench/only+secret')
    serial = iter(range(10 ** 9))

    def get():
        client.query(TableName=table, ConsistentRead=True, Select='COUNT',
                     KeyConditionExpression='CandidateName = :n',
                     ExpressionAttributeValues={
                         ':n': {'S': 'candidate-0500'}})

    def put():
        name = 'boto3-%d' % next(serial)
        client.put_item(TableName=table, Item={'CandidateName': {'S': name}})

    scanner = client.get_paginator('scan')

    def scan():
        for _ in scanner.paginate(TableName=table, ConsistentRead=True,
                                  ProjectionExpression='CandidateName'):
            pass

    # The listing before the writes, so it lists what the service listed.
    out = {'get': per_call(get, calls)}
    out['list'] = per_call(scan, max(1, calls // 20))
    out['put'] = per_call(put, calls)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
