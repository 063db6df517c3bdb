"""Run tags the project reads back.

INBOUND_TAG and OUTBOUND_TAG label which side of the sync a run works on: the sensors look for
in-flight runs by them, the Runs page filters by them (sync_job carries both), and a run that
carries one holds its customer's lease (tracos/lease.py); samples_job carries neither."""

INBOUND_TAG = "tracos/inbound"
OUTBOUND_TAG = "tracos/outbound"

# On an inbound run that left files in the inbound folder: how many. The inbound sensor's bound
# on runs for the same files counts only runs that left them (or failed): a file the customer
# sends again, byte for byte, after a run archived it is a new drop.
FILES_LEFT_TAG = "tracos/files_left"
