import { greeting, reply } from './shared/format';

// In the nested stack QdCdkJobs/Reports.
export const handler = async () => {
  return reply({ report: 'daily', message: greeting('report') });
};
